//! Tilebox workflows: tasks, jobs, clusters and the task runner.
