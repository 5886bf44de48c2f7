-- App Connect call dispositions of a logged call, as a JSON object (logDisposition).
ALTER TABLE {{prefix}}call_logs ADD COLUMN disposition TEXT NOT NULL DEFAULT '';
