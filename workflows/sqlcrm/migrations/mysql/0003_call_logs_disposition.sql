-- App Connect call dispositions of a logged call, as a JSON object (logDisposition). TEXT takes no literal default on MySQL.
ALTER TABLE {{prefix}}call_logs ADD COLUMN disposition TEXT NULL;
