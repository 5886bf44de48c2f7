-- Calldex SQL CRM schema, MariaDB / MySQL. {{prefix}} is the configured table prefix.
-- VARCHAR(191) keeps unique utf8mb4 keys within InnoDB's 767-byte index limit on old servers.
CREATE TABLE IF NOT EXISTS {{prefix}}contacts (
    id         BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name       VARCHAR(255) NOT NULL DEFAULT '',
    company    VARCHAR(255) NOT NULL DEFAULT '',
    phone      VARCHAR(64) NOT NULL DEFAULT '',
    email      VARCHAR(255) NOT NULL DEFAULT '',
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    deleted_at DATETIME(6) NULL,
    KEY contacts_updated (updated_at, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS {{prefix}}call_logs (
    id                 BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    idempotency_key    VARCHAR(191) NOT NULL,
    tenant             VARCHAR(64) NOT NULL,
    workflow           VARCHAR(128) NOT NULL,
    kind               VARCHAR(16) NOT NULL DEFAULT 'call',
    direction          VARCHAR(16) NOT NULL DEFAULT '',
    originator_number  VARCHAR(64) NOT NULL DEFAULT '',
    originator_name    VARCHAR(255) NOT NULL DEFAULT '',
    destination_number VARCHAR(64) NOT NULL DEFAULT '',
    destination_name   VARCHAR(255) NOT NULL DEFAULT '',
    contact_crm_id     VARCHAR(191) NOT NULL DEFAULT '',
    user_crm_id        VARCHAR(191) NOT NULL DEFAULT '',
    started_at         DATETIME(6) NULL,
    answered_at        DATETIME(6) NULL,
    ended_at           DATETIME(6) NULL,
    declined_at        DATETIME(6) NULL,
    duration_seconds   INT NOT NULL DEFAULT 0,
    answered           BOOLEAN NOT NULL DEFAULT FALSE,
    missed             BOOLEAN NOT NULL DEFAULT FALSE,
    message_type       VARCHAR(32) NOT NULL DEFAULT '',
    subject            VARCHAR(255) NOT NULL DEFAULT '',
    note               TEXT NOT NULL,
    result             VARCHAR(255) NOT NULL DEFAULT '',
    recording          VARCHAR(1024) NOT NULL DEFAULT '',
    created_at         DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY call_logs_idempotency_key (idempotency_key),
    KEY call_logs_contact (tenant, contact_crm_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
CREATE TABLE IF NOT EXISTS {{prefix}}tickets (
    id              BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    idempotency_key VARCHAR(191) NOT NULL,
    tenant          VARCHAR(64) NOT NULL,
    workflow        VARCHAR(128) NOT NULL DEFAULT '',
    subject         VARCHAR(255) NOT NULL DEFAULT '',
    description     TEXT NOT NULL,
    contact_crm_id  VARCHAR(191) NOT NULL DEFAULT '',
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY tickets_idempotency_key (idempotency_key),
    KEY tickets_contact (tenant, contact_crm_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
