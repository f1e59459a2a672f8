-- Workflow definitions (WorkflowsService CreateWorkflow ... DeleteWorkflow) and the telemetry runners export
-- over OTLP/HTTP: one row per log record and per span, kept with its encoded resource and scope. A row's job is
-- found by its trace id (a job's trace parent names the trace all its task spans and logs belong to) or by a
-- `job_id` attribute; `task_id` comes from the record's attributes (or its span's). `received_at_us` drives
-- the retention limit.
CREATE TABLE IF NOT EXISTS wf_workflows (
    slug            TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    summary         TEXT NOT NULL,
    description     TEXT NOT NULL,
    created_at_us   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS wf_telemetry_logs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at_us  INTEGER NOT NULL,
    time_ns         INTEGER NOT NULL,
    severity        INTEGER NOT NULL,
    trace_id        BLOB,
    job_id          BLOB,
    task_id         BLOB,
    resource        BLOB NOT NULL,
    scope           BLOB NOT NULL,
    record          BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS wf_telemetry_logs_by_trace ON wf_telemetry_logs(trace_id, time_ns, id);
CREATE INDEX IF NOT EXISTS wf_telemetry_logs_by_job ON wf_telemetry_logs(job_id, time_ns, id);
CREATE INDEX IF NOT EXISTS wf_telemetry_logs_by_time ON wf_telemetry_logs(time_ns, id);
CREATE INDEX IF NOT EXISTS wf_telemetry_logs_by_received ON wf_telemetry_logs(received_at_us);

CREATE TABLE IF NOT EXISTS wf_telemetry_spans (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    received_at_us  INTEGER NOT NULL,
    time_ns         INTEGER NOT NULL,
    trace_id        BLOB,
    job_id          BLOB,
    task_id         BLOB,
    resource        BLOB NOT NULL,
    scope           BLOB NOT NULL,
    record          BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS wf_telemetry_spans_by_trace ON wf_telemetry_spans(trace_id, time_ns, id);
CREATE INDEX IF NOT EXISTS wf_telemetry_spans_by_job ON wf_telemetry_spans(job_id, time_ns, id);
CREATE INDEX IF NOT EXISTS wf_telemetry_spans_by_received ON wf_telemetry_spans(received_at_us);
