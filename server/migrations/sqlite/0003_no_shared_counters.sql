-- Task transitions no longer write shared rows: a job's state, a parent's open subtasks and a group's open
-- tasks are read from these partial indexes of the incomplete tasks when they matter, instead of counters in
-- the job, parent and group rows that every transition of a job rewrote (and queued on). The counter columns
-- (`wf_jobs.state`, `open_roots`, `running_tasks`, `failed_tasks`, `started`, `wf_task_groups.open_tasks`,
-- `pending_deps`, `wf_tasks.open_children`, `wf_jobs.retried_pending`) stay in place for databases written
-- before, no longer read. A retry records when it happened: the job counts as running until a task of it is
-- claimed or reported after that.
ALTER TABLE wf_jobs ADD COLUMN retried_at_us BIGINT;
CREATE INDEX IF NOT EXISTS wf_tasks_open_roots ON wf_tasks(job_id) WHERE parent_id IS NULL AND complete = 0;
CREATE INDEX IF NOT EXISTS wf_tasks_started ON wf_tasks(job_id) WHERE started_at_us IS NOT NULL;
CREATE INDEX IF NOT EXISTS wf_tasks_open_children ON wf_tasks(parent_id) WHERE complete = 0;
CREATE INDEX IF NOT EXISTS wf_tasks_open_in_group ON wf_tasks(group_id) WHERE complete = 0;
CREATE INDEX IF NOT EXISTS wf_tasks_computed_open ON wf_tasks(id) WHERE state = 3 AND complete = 0;
