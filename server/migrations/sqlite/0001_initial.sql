-- Initial schema of the SQLite backend: datasets and workflows tables.
--
-- `IF NOT EXISTS` throughout, so databases created before versioned migrations existed adopt this version
-- as they are; their later changes are brought up to date by the store when it opens them.

CREATE TABLE IF NOT EXISTS dataset_groups (
    id BLOB PRIMARY KEY,
    parent_id BLOB,
    code_name TEXT NOT NULL,
    name TEXT NOT NULL,
    icon TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS datasets (
    id BLOB PRIMARY KEY,
    group_id BLOB NOT NULL,
    code_name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    summary TEXT NOT NULL,
    description TEXT NOT NULL,
    icon TEXT NOT NULL,
    kind INTEGER NOT NULL,
    fields BLOB NOT NULL,
    visibility INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS collections (
    id BLOB PRIMARY KEY,
    dataset_id BLOB NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (dataset_id, name)
);

CREATE TABLE IF NOT EXISTS datapoints (
    collection_id BLOB NOT NULL,
    id BLOB NOT NULL,
    time_ms BIGINT NOT NULL,
    time_ns BIGINT NOT NULL,
    ingestion_time_ns BIGINT NOT NULL,
    min_x DOUBLE PRECISION,
    min_y DOUBLE PRECISION,
    max_x DOUBLE PRECISION,
    max_y DOUBLE PRECISION,
    data BLOB NOT NULL,
    PRIMARY KEY (collection_id, id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS wf_clusters (
    slug          TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    is_default    INTEGER NOT NULL DEFAULT 0,
    created_at_us INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS wf_jobs (
    id              BLOB PRIMARY KEY,
    name            TEXT NOT NULL,
    trace_parent    TEXT NOT NULL,
    automation_id   BLOB,
    submitted_at_us INTEGER NOT NULL,
    canceled        INTEGER NOT NULL DEFAULT 0,
    state           INTEGER NOT NULL,
    retried_pending INTEGER NOT NULL DEFAULT 0,
    open_roots      INTEGER NOT NULL,
    running_tasks   INTEGER NOT NULL DEFAULT 0,
    failed_tasks    INTEGER NOT NULL DEFAULT 0,
    started         INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX IF NOT EXISTS wf_jobs_by_automation ON wf_jobs(automation_id);

CREATE TABLE IF NOT EXISTS wf_task_groups (
    id              INTEGER PRIMARY KEY,
    job_id          BLOB NOT NULL,
    parent_task_id  BLOB,
    open_tasks      INTEGER NOT NULL,
    pending_deps    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS wf_group_deps (
    group_id   INTEGER NOT NULL,
    depends_on INTEGER NOT NULL,
    PRIMARY KEY (group_id, depends_on)
);

CREATE INDEX IF NOT EXISTS wf_group_deps_by_target ON wf_group_deps(depends_on);

CREATE TABLE IF NOT EXISTS wf_tasks (
    id              BLOB PRIMARY KEY,
    job_id          BLOB NOT NULL,
    group_id        INTEGER NOT NULL,
    parent_id       BLOB,
    cluster_slug    TEXT NOT NULL,
    name            TEXT NOT NULL,
    version         TEXT NOT NULL,
    major           INTEGER NOT NULL,
    minor           INTEGER NOT NULL,
    input           BLOB NOT NULL,
    display         TEXT NOT NULL,
    state           INTEGER NOT NULL,
    optional        INTEGER NOT NULL,
    optional_scope  BLOB,
    in_skip         INTEGER NOT NULL DEFAULT 0,
    max_retries     INTEGER NOT NULL,
    failures        INTEGER NOT NULL DEFAULT 0,
    lease_expiries  INTEGER NOT NULL DEFAULT 0,
    open_children   INTEGER NOT NULL DEFAULT 0,
    complete        INTEGER NOT NULL DEFAULT 0,
    lease_until_us  INTEGER,
    started_at_us   INTEGER,
    stopped_at_us   INTEGER,
    compute_us      INTEGER NOT NULL DEFAULT 0
);

-- Partial indexes: state 1 = TASK_STATE_QUEUED, 2 = TASK_STATE_RUNNING.
CREATE INDEX IF NOT EXISTS wf_tasks_queued ON wf_tasks(cluster_slug, name, major, minor, id) WHERE state = 1;
CREATE INDEX IF NOT EXISTS wf_tasks_running ON wf_tasks(lease_until_us) WHERE state = 2;
CREATE INDEX IF NOT EXISTS wf_tasks_by_job ON wf_tasks(job_id, state);
CREATE INDEX IF NOT EXISTS wf_tasks_by_parent ON wf_tasks(parent_id);

CREATE TABLE IF NOT EXISTS wf_task_progress (
    task_id BLOB NOT NULL,
    job_id  BLOB NOT NULL,
    label   TEXT NOT NULL,
    total   INTEGER NOT NULL,
    done    INTEGER NOT NULL,
    PRIMARY KEY (task_id, label)
);

CREATE INDEX IF NOT EXISTS wf_task_progress_by_job ON wf_task_progress(job_id);
