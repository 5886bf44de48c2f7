-- Calldex SQL CRM schema, SQLite. {{prefix}} is the configured table prefix.
-- Times are ISO 8601 text, the form the driver writes.
CREATE TABLE IF NOT EXISTS {{prefix}}contacts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL DEFAULT '',
    company    TEXT NOT NULL DEFAULT '',
    phone      TEXT NOT NULL DEFAULT '',
    email      TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    deleted_at TEXT
);
CREATE INDEX IF NOT EXISTS {{prefix}}contacts_updated ON {{prefix}}contacts (updated_at, id);
CREATE TABLE IF NOT EXISTS {{prefix}}call_logs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key    TEXT NOT NULL UNIQUE,
    tenant             TEXT NOT NULL,
    workflow           TEXT NOT NULL,
    kind               TEXT NOT NULL DEFAULT 'call',
    direction          TEXT NOT NULL DEFAULT '',
    originator_number  TEXT NOT NULL DEFAULT '',
    originator_name    TEXT NOT NULL DEFAULT '',
    destination_number TEXT NOT NULL DEFAULT '',
    destination_name   TEXT NOT NULL DEFAULT '',
    contact_crm_id     TEXT NOT NULL DEFAULT '',
    user_crm_id        TEXT NOT NULL DEFAULT '',
    started_at         TEXT,
    answered_at        TEXT,
    ended_at           TEXT,
    declined_at        TEXT,
    duration_seconds   INTEGER NOT NULL DEFAULT 0,
    answered           INTEGER NOT NULL DEFAULT 0,
    missed             INTEGER NOT NULL DEFAULT 0,
    message_type       TEXT NOT NULL DEFAULT '',
    subject            TEXT NOT NULL DEFAULT '',
    note               TEXT NOT NULL DEFAULT '',
    result             TEXT NOT NULL DEFAULT '',
    recording          TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS {{prefix}}call_logs_contact ON {{prefix}}call_logs (tenant, contact_crm_id);
CREATE TABLE IF NOT EXISTS {{prefix}}tickets (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    tenant          TEXT NOT NULL,
    workflow        TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL DEFAULT '',
    description     TEXT NOT NULL DEFAULT '',
    contact_crm_id  TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS {{prefix}}tickets_contact ON {{prefix}}tickets (tenant, contact_crm_id);
