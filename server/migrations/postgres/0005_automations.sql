-- Automations and storage locations (see the SQLite migration): BYTEA for blobs, BIGINT for integers (flags
-- stay 0/1), byte-order collation on the unique object key.

CREATE TABLE wf_storage_locations (
    id            BYTEA PRIMARY KEY,
    name          TEXT NOT NULL,
    storage_type  BIGINT NOT NULL,
    location      TEXT NOT NULL,
    reference     BYTEA NOT NULL,
    created_at_us BIGINT NOT NULL
);

CREATE TABLE wf_automations (
    id            BYTEA PRIMARY KEY,
    name          TEXT NOT NULL,
    task_name     TEXT NOT NULL,
    task_version  TEXT NOT NULL,
    task_major    BIGINT NOT NULL,
    task_minor    BIGINT NOT NULL,
    cluster       TEXT,
    display       TEXT NOT NULL,
    args          BYTEA NOT NULL,
    max_retries   BIGINT NOT NULL,
    disabled      BIGINT NOT NULL,
    created_at_us BIGINT NOT NULL
);

-- next_at_us: the next scheduled time; a firing moves it forward in the transaction that submits the job,
-- only if it still holds the value the firing read (so each scheduled time is fired once).
CREATE TABLE wf_cron_triggers (
    id            BYTEA PRIMARY KEY,
    automation_id BYTEA NOT NULL,
    position      BIGINT NOT NULL,
    schedule      TEXT NOT NULL,
    next_at_us    BIGINT NOT NULL
);
CREATE INDEX wf_cron_triggers_by_automation ON wf_cron_triggers (automation_id);
CREATE INDEX wf_cron_triggers_due ON wf_cron_triggers (next_at_us);

CREATE TABLE wf_storage_triggers (
    id                  BYTEA PRIMARY KEY,
    automation_id       BYTEA NOT NULL,
    position            BIGINT NOT NULL,
    storage_location_id BYTEA NOT NULL,
    glob_pattern        TEXT NOT NULL
);
CREATE INDEX wf_storage_triggers_by_automation ON wf_storage_triggers (automation_id);
CREATE INDEX wf_storage_triggers_by_location ON wf_storage_triggers (storage_location_id);

CREATE TABLE wf_storage_events (
    id                  BYTEA PRIMARY KEY,
    storage_location_id BYTEA NOT NULL,
    object_key          TEXT COLLATE "C" NOT NULL,
    event_time_us       BIGINT NOT NULL,
    received_at_us      BIGINT NOT NULL,
    UNIQUE (storage_location_id, object_key)
);

CREATE TABLE wf_storage_event_jobs (
    event_id      BYTEA NOT NULL,
    job_id        BYTEA NOT NULL,
    automation_id BYTEA NOT NULL,
    glob_pattern  TEXT NOT NULL,
    PRIMARY KEY (event_id, job_id)
);
