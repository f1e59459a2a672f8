-- Claim indexes (see ARCHITECTURE.md, "Workflows claim and report cost"): a claim walks the queued tasks of one
-- identifier (name, major) in id order — in a cluster, or in a job — and stops at the first eligible one, so
-- claiming costs a few index probes however many tasks are queued. `minor`, the job and the group are checked
-- per row; the index leaves `minor` out so the walk follows id order. The old index (with `minor`) made the
-- planner collect and sort every queued task of the identifier instead, so it goes.
DROP INDEX IF EXISTS wf_tasks_queued;
CREATE INDEX IF NOT EXISTS wf_tasks_claim ON wf_tasks(cluster_slug, name, major, id) WHERE state = 1;
CREATE INDEX IF NOT EXISTS wf_tasks_job_claim ON wf_tasks(job_id, name, major, id) WHERE state = 1;
