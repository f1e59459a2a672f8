-- Automations and storage locations: a task prototype submitted as a job when one of its triggers fires (a
-- cron schedule, or a new object in a storage location whose path matches a glob), and the object events
-- each location recorded (once per object path) with the jobs they submitted.

CREATE TABLE wf_storage_locations (
    id            BLOB PRIMARY KEY,
    name          TEXT NOT NULL,
    storage_type  INTEGER NOT NULL,
    location      TEXT NOT NULL,
    reference     BLOB NOT NULL,
    created_at_us INTEGER NOT NULL
);

CREATE TABLE wf_automations (
    id            BLOB PRIMARY KEY,
    name          TEXT NOT NULL,
    task_name     TEXT NOT NULL,
    task_version  TEXT NOT NULL,
    task_major    INTEGER NOT NULL,
    task_minor    INTEGER NOT NULL,
    cluster       TEXT,
    display       TEXT NOT NULL,
    args          BLOB NOT NULL,
    max_retries   INTEGER NOT NULL,
    disabled      INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL
);

-- next_at_us: the next scheduled time; a firing moves it forward in the transaction that submits the job,
-- only if it still holds the value the firing read (so each scheduled time is fired once).
CREATE TABLE wf_cron_triggers (
    id            BLOB PRIMARY KEY,
    automation_id BLOB NOT NULL,
    position      INTEGER NOT NULL,
    schedule      TEXT NOT NULL,
    next_at_us    INTEGER NOT NULL
);
CREATE INDEX wf_cron_triggers_by_automation ON wf_cron_triggers (automation_id);
CREATE INDEX wf_cron_triggers_due ON wf_cron_triggers (next_at_us);

CREATE TABLE wf_storage_triggers (
    id                  BLOB PRIMARY KEY,
    automation_id       BLOB NOT NULL,
    position            INTEGER NOT NULL,
    storage_location_id BLOB NOT NULL,
    glob_pattern        TEXT NOT NULL
);
CREATE INDEX wf_storage_triggers_by_automation ON wf_storage_triggers (automation_id);
CREATE INDEX wf_storage_triggers_by_location ON wf_storage_triggers (storage_location_id);

CREATE TABLE wf_storage_events (
    id                  BLOB PRIMARY KEY,
    storage_location_id BLOB NOT NULL,
    object_key          TEXT NOT NULL,
    event_time_us       INTEGER NOT NULL,
    received_at_us      INTEGER NOT NULL,
    UNIQUE (storage_location_id, object_key)
);

CREATE TABLE wf_storage_event_jobs (
    event_id      BLOB NOT NULL,
    job_id        BLOB NOT NULL,
    automation_id BLOB NOT NULL,
    glob_pattern  TEXT NOT NULL,
    PRIMARY KEY (event_id, job_id)
);
