//! The workflows store: job/task state machine on SQLite.
//!
//! Every mutation runs in one `BEGIN IMMEDIATE` transaction, serialised by an async mutex (one writer), so
//! claiming is safe with any number of runners polling at once.

// The legacy submission fields are still accepted from old clients.
#![allow(deprecated)]

use std::sync::Mutex as StdMutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sqlx::{Row, SqliteConnection, SqlitePool};
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1 as wf;
use tokio::sync::Mutex;

use super::config::WorkflowsConfig;
use super::error::WfError;
use super::schema::SCHEMA;
use super::validate::{NewGroup, check_identifier, validate_submissions};

pub(crate) const QUEUED: i64 = 1;
pub(crate) const RUNNING: i64 = 2;
pub(crate) const COMPUTED: i64 = 3;
pub(crate) const FAILED: i64 = 4;
pub(crate) const SKIPPED: i64 = 5;
pub(crate) const FAILED_OPTIONAL: i64 = 6;

const JOB_SUBMITTED: i64 = 1;
const JOB_RUNNING: i64 = 2;
const JOB_STARTED: i64 = 3;
const JOB_COMPLETED: i64 = 4;
const JOB_FAILED: i64 = 5;
const JOB_CANCELED: i64 = 6;

/// Counters kept for tests and diagnostics.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) claims: AtomicU64,
    pub(crate) extensions_granted: AtomicU64,
    pub(crate) lease_expiries: AtomicU64,
}

/// The workflows store.
pub(crate) struct Store {
    pool: SqlitePool,
    writer: Mutex<()>,
    pub(crate) config: WorkflowsConfig,
    last_id: StdMutex<u128>,
    pub(crate) counters: Counters,
}

pub(crate) fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

fn dur_us(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

pub(crate) fn ts(us: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

pub(crate) fn pdur(us: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: us.div_euclid(1_000_000),
        nanos: (us.rem_euclid(1_000_000) * 1000) as i32,
    }
}

pub(crate) fn pdur_us(d: &prost_types::Duration) -> i64 {
    d.seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(d.nanos) / 1000)
}

fn id_msg(bytes: &[u8]) -> tb::Id {
    tb::Id {
        uuid: Bytes::copy_from_slice(bytes),
    }
}

fn random_suffix(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < len {
                out.push(ALPHABET[(*b as usize) % ALPHABET.len()] as char);
            }
        }
    }
    out
}

/// A claimed task, ready to be sent to a runner.
struct Claimed {
    id: Vec<u8>,
}

impl Store {
    /// Open the store on `pool`, creating tables and the default cluster if needed.
    pub(crate) async fn open(pool: SqlitePool, config: WorkflowsConfig) -> Result<Self, WfError> {
        for stmt in SCHEMA {
            sqlx::query(stmt).execute(&pool).await?;
        }
        let has_default: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM wf_clusters WHERE is_default = 1")
                .fetch_optional(&pool)
                .await?;
        if has_default.is_none() {
            sqlx::query(
                "INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us)
                 VALUES (?, 'Default', 'The default cluster', 1, ?)",
            )
            .bind(format!("default-{}", random_suffix(14)))
            .bind(now_us())
            .execute(&pool)
            .await?;
        }
        Ok(Self {
            pool,
            writer: Mutex::new(()),
            config,
            last_id: StdMutex::new(0),
            counters: Counters::default(),
        })
    }

    /// A new UUIDv7, strictly greater than every id handed out before by this store.
    fn new_id(&self) -> Vec<u8> {
        let ms = (now_us() / 1000) as u128;
        let rand = u128::from_be_bytes(*uuid::Uuid::new_v4().as_bytes());
        // 48-bit ms | version 7 | 12 random bits | variant 10 | 62 random bits
        let mut v = (ms & 0xFFFF_FFFF_FFFF) << 80;
        v |= 0x7u128 << 76;
        v |= (rand >> 64 & 0xFFF) << 64;
        v |= 0b10u128 << 62;
        v |= rand & 0x3FFF_FFFF_FFFF_FFFF;
        let mut last = self.last_id.lock().unwrap_or_else(|p| p.into_inner());
        if v <= *last {
            v = *last + 1;
        }
        *last = v;
        v.to_be_bytes().to_vec()
    }

    async fn begin(
        &self,
    ) -> Result<
        (
            tokio::sync::MutexGuard<'_, ()>,
            sqlx::Transaction<'static, sqlx::Sqlite>,
        ),
        WfError,
    > {
        let guard = self.writer.lock().await;
        let tx = crate::store::tx::begin_immediate(&self.pool).await?;
        Ok((guard, tx))
    }

    // ------------------------------------------------------------------ clusters

    async fn default_cluster(conn: &mut SqliteConnection) -> Result<String, WfError> {
        Ok(
            sqlx::query_scalar("SELECT slug FROM wf_clusters WHERE is_default = 1")
                .fetch_one(conn)
                .await?,
        )
    }

    fn cluster_msg(row: &sqlx::sqlite::SqliteRow) -> Result<wf::Cluster, WfError> {
        Ok(wf::Cluster {
            slug: row.try_get("slug")?,
            display_name: row.try_get("display_name")?,
            description: row.try_get("description")?,
            deletable: row.try_get::<i64, _>("is_default")? == 0,
            deployed_releases: Vec::new(),
        })
    }

    pub(crate) async fn get_cluster(&self, slug: &str) -> Result<wf::Cluster, WfError> {
        let row = if slug.is_empty() {
            sqlx::query("SELECT * FROM wf_clusters WHERE is_default = 1")
                .fetch_optional(&self.pool)
                .await?
        } else {
            sqlx::query("SELECT * FROM wf_clusters WHERE slug = ?")
                .bind(slug)
                .fetch_optional(&self.pool)
                .await?
        };
        match row {
            Some(row) => Self::cluster_msg(&row),
            None => Err(WfError::not_found(format!("cluster {slug:?} not found"))),
        }
    }

    pub(crate) async fn list_clusters(&self) -> Result<Vec<wf::Cluster>, WfError> {
        let rows =
            sqlx::query("SELECT * FROM wf_clusters ORDER BY is_default DESC, created_at_us, slug")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Self::cluster_msg).collect()
    }

    pub(crate) async fn create_cluster(
        &self,
        req: &wf::CreateClusterRequest,
    ) -> Result<wf::Cluster, WfError> {
        if req.name.is_empty() || req.name.len() > 100 {
            return Err(WfError::invalid("cluster name must be 1..=100 characters"));
        }
        if req.slug.len() > 100
            || !req
                .slug
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(WfError::invalid(
                "cluster slug must match ^[A-Za-z0-9-]*$ and be at most 100 characters",
            ));
        }
        let slug = if req.slug.is_empty() {
            let base: String = req
                .name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            format!("{}-{}", base.trim_matches('-'), random_suffix(14))
        } else {
            req.slug.clone()
        };
        let (_g, mut tx) = self.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM wf_clusters WHERE slug = ?")
            .bind(&slug)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(WfError::new(
                super::error::WfCode::AlreadyExists,
                format!("cluster {slug:?} already exists"),
            ));
        }
        sqlx::query("INSERT INTO wf_clusters (slug, display_name, description, is_default, created_at_us) VALUES (?, ?, ?, 0, ?)")
            .bind(&slug)
            .bind(&req.name)
            .bind(&req.description)
            .bind(now_us())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.get_cluster(&slug).await
    }

    pub(crate) async fn update_cluster(
        &self,
        req: &wf::UpdateClusterRequest,
    ) -> Result<wf::Cluster, WfError> {
        let (_g, mut tx) = self.begin().await?;
        let n = sqlx::query(
            "UPDATE wf_clusters SET display_name = COALESCE(?, display_name), description = COALESCE(?, description)
             WHERE slug = ?",
        )
        .bind(&req.name)
        .bind(&req.description)
        .bind(&req.cluster_slug)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if n == 0 {
            return Err(WfError::not_found(format!(
                "cluster {:?} not found",
                req.cluster_slug
            )));
        }
        self.get_cluster(&req.cluster_slug).await
    }

    pub(crate) async fn delete_cluster(&self, slug: &str) -> Result<(), WfError> {
        let (_g, mut tx) = self.begin().await?;
        let row: Option<i64> =
            sqlx::query_scalar("SELECT is_default FROM wf_clusters WHERE slug = ?")
                .bind(slug)
                .fetch_optional(&mut *tx)
                .await?;
        match row {
            None => Err(WfError::not_found(format!("cluster {slug:?} not found"))),
            Some(1) => Err(WfError::new(
                super::error::WfCode::FailedPrecondition,
                "the default cluster cannot be deleted",
            )),
            Some(_) => {
                sqlx::query("DELETE FROM wf_clusters WHERE slug = ?")
                    .bind(slug)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    async fn check_clusters(
        conn: &mut SqliteConnection,
        groups: &[NewGroup],
    ) -> Result<(), WfError> {
        let mut seen: Vec<&str> = Vec::new();
        for t in groups.iter().flat_map(|g| &g.tasks) {
            if t.cluster.is_empty() || seen.contains(&t.cluster.as_str()) {
                continue;
            }
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT 1 FROM wf_clusters WHERE slug = ?")
                    .bind(&t.cluster)
                    .fetch_optional(&mut *conn)
                    .await?;
            if exists.is_none() {
                return Err(WfError::invalid(format!(
                    "cluster {:?} does not exist",
                    t.cluster
                )));
            }
            seen.push(&t.cluster);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ submissions

    /// Insert the groups of one submission (roots when `parent` is None). Returns how many inserted tasks are
    /// not complete.
    #[allow(clippy::too_many_arguments)]
    async fn insert_groups(
        &self,
        conn: &mut SqliteConnection,
        job_id: &[u8],
        parent: Option<&[u8]>,
        inherit_cluster: &str,
        parent_scope: Option<&[u8]>,
        skip: bool,
        groups: &[NewGroup],
    ) -> Result<i64, WfError> {
        let open_per_group: Vec<i64> = groups
            .iter()
            .map(|g| if skip { 0 } else { g.tasks.len() as i64 })
            .collect();
        let mut group_ids = Vec::with_capacity(groups.len());
        for (g, group) in groups.iter().enumerate() {
            let pending = group
                .deps
                .iter()
                .filter(|&&d| open_per_group[d] > 0)
                .count() as i64;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO wf_task_groups (job_id, parent_task_id, open_tasks, pending_deps) VALUES (?, ?, ?, ?)
                 RETURNING id",
            )
            .bind(job_id)
            .bind(parent)
            .bind(open_per_group[g])
            .bind(pending)
            .fetch_one(&mut *conn)
            .await?;
            group_ids.push(id);
        }
        for (g, group) in groups.iter().enumerate() {
            for &d in &group.deps {
                sqlx::query(
                    "INSERT OR IGNORE INTO wf_group_deps (group_id, depends_on) VALUES (?, ?)",
                )
                .bind(group_ids[g])
                .bind(group_ids[d])
                .execute(&mut *conn)
                .await?;
            }
        }
        let mut open = 0;
        for (g, group) in groups.iter().enumerate() {
            for t in &group.tasks {
                let id = self.new_id();
                let scope: Option<Vec<u8>> = if t.optional {
                    Some(id.clone())
                } else {
                    parent_scope.map(<[u8]>::to_vec)
                };
                let cluster = if t.cluster.is_empty() {
                    inherit_cluster
                } else {
                    t.cluster.as_str()
                };
                let (state, complete) = if skip { (SKIPPED, 1) } else { (QUEUED, 0) };
                sqlx::query(
                    "INSERT INTO wf_tasks (id, job_id, group_id, parent_id, cluster_slug, name, version, major, minor,
                        input, display, state, optional, optional_scope, in_skip, max_retries, complete)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&id)
                .bind(job_id)
                .bind(group_ids[g])
                .bind(parent)
                .bind(cluster)
                .bind(&t.name)
                .bind(&t.version)
                .bind(t.major)
                .bind(t.minor)
                .bind(t.input.as_ref())
                .bind(&t.display)
                .bind(state)
                .bind(i64::from(t.optional))
                .bind(scope)
                .bind(i64::from(skip))
                .bind(t.max_retries)
                .bind(complete)
                .execute(&mut *conn)
                .await?;
                if !skip {
                    open += 1;
                }
            }
        }
        Ok(open)
    }

    pub(crate) async fn submit_job(&self, req: &wf::SubmitJobRequest) -> Result<wf::Job, WfError> {
        if req.job_name.is_empty() {
            return Err(WfError::invalid("job_name must not be empty"));
        }
        if req.trace_parent.is_empty() {
            return Err(WfError::invalid("trace_parent must not be empty"));
        }
        let groups = match (&req.tasks, req.legacy_tasks.is_empty()) {
            (Some(t), _) if !t.task_groups.is_empty() => validate_submissions(t)?,
            (_, false) => legacy_groups(&req.legacy_tasks)?,
            _ => return Err(WfError::invalid("at least one task must be submitted")),
        };
        let (_g, mut tx) = self.begin().await?;
        Self::check_clusters(&mut tx, &groups).await?;
        let default = Self::default_cluster(&mut tx).await?;
        let job_id = self.new_id();
        let roots: i64 = groups.iter().map(|g| g.tasks.len() as i64).sum();
        sqlx::query(
            "INSERT INTO wf_jobs (id, name, trace_parent, automation_id, submitted_at_us, state, open_roots)
             VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&job_id)
        .bind(&req.job_name)
        .bind(&req.trace_parent)
        .bind(req.automation_id.as_ref().map(|a| a.uuid.to_vec()))
        .bind(now_us())
        .bind(JOB_SUBMITTED)
        .bind(roots)
        .execute(&mut *tx)
        .await?;
        self.insert_groups(&mut tx, &job_id, None, &default, None, false, &groups)
            .await?;
        let job = Self::job_view(&mut tx, &job_id, true).await?;
        tx.commit().await?;
        Ok(job)
    }

    // ------------------------------------------------------------------ completion and failure

    /// Mark `start` complete and propagate to parents, groups and the job.
    async fn complete(conn: &mut SqliteConnection, start: Vec<u8>) -> Result<(), WfError> {
        let mut stack = vec![start];
        while let Some(id) = stack.pop() {
            let row = sqlx::query("UPDATE wf_tasks SET complete = 1 WHERE id = ? AND complete = 0 RETURNING parent_id, group_id, job_id")
                .bind(&id)
                .fetch_optional(&mut *conn)
                .await?;
            let Some(row) = row else { continue };
            let parent: Option<Vec<u8>> = row.try_get("parent_id")?;
            let group: i64 = row.try_get("group_id")?;
            let job: Vec<u8> = row.try_get("job_id")?;
            match parent {
                Some(p) => {
                    let r = sqlx::query(
                        "UPDATE wf_tasks SET open_children = open_children - 1 WHERE id = ? RETURNING open_children, state",
                    )
                    .bind(&p)
                    .fetch_one(&mut *conn)
                    .await?;
                    let open: i64 = r.try_get("open_children")?;
                    let state: i64 = r.try_get("state")?;
                    if open <= 0 && state == COMPUTED {
                        stack.push(p);
                    }
                }
                None => {
                    sqlx::query("UPDATE wf_jobs SET open_roots = open_roots - 1 WHERE id = ?")
                        .bind(&job)
                        .execute(&mut *conn)
                        .await?;
                }
            }
            let open: i64 = sqlx::query_scalar("UPDATE wf_task_groups SET open_tasks = open_tasks - 1 WHERE id = ? RETURNING open_tasks")
                .bind(group)
                .fetch_one(&mut *conn)
                .await?;
            if open == 0 {
                sqlx::query(
                    "UPDATE wf_task_groups SET pending_deps = pending_deps - 1
                     WHERE id IN (SELECT group_id FROM wf_group_deps WHERE depends_on = ?)",
                )
                .bind(group)
                .execute(&mut *conn)
                .await?;
            }
        }
        Ok(())
    }

    /// The failure path once retries (or lease expiries) are exhausted.
    async fn terminal_failure(conn: &mut SqliteConnection, id: &[u8]) -> Result<(), WfError> {
        let row = sqlx::query("SELECT optional, optional_scope FROM wf_tasks WHERE id = ?")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        let optional: i64 = row.try_get("optional")?;
        let scope: Option<Vec<u8>> = row.try_get("optional_scope")?;
        if optional == 1 {
            sqlx::query("UPDATE wf_tasks SET state = ? WHERE id = ?")
                .bind(FAILED_OPTIONAL)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            return Self::complete(conn, id.to_vec()).await;
        }
        let Some(scope) = scope else {
            sqlx::query("UPDATE wf_tasks SET state = ? WHERE id = ?")
                .bind(FAILED)
                .bind(id)
                .execute(&mut *conn)
                .await?;
            return Ok(());
        };
        sqlx::query("UPDATE wf_tasks SET state = ? WHERE id = ?")
            .bind(FAILED_OPTIONAL)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        Self::complete(conn, id.to_vec()).await?;
        // Put the optional scope's subtree in skip mode and skip everything still queued there.
        let subtree: Vec<(Vec<u8>, i64)> = sqlx::query_as(
            "WITH RECURSIVE sub(id) AS (
                SELECT id FROM wf_tasks WHERE parent_id = ?
                UNION ALL SELECT t.id FROM wf_tasks t JOIN sub ON t.parent_id = sub.id)
             SELECT t.id, t.state FROM wf_tasks t JOIN sub ON sub.id = t.id",
        )
        .bind(&scope)
        .fetch_all(&mut *conn)
        .await?;
        sqlx::query("UPDATE wf_tasks SET in_skip = 1 WHERE id = ?")
            .bind(&scope)
            .execute(&mut *conn)
            .await?;
        for (tid, state) in subtree {
            sqlx::query("UPDATE wf_tasks SET in_skip = 1 WHERE id = ?")
                .bind(&tid)
                .execute(&mut *conn)
                .await?;
            if state == QUEUED {
                sqlx::query("UPDATE wf_tasks SET state = ? WHERE id = ?")
                    .bind(SKIPPED)
                    .bind(&tid)
                    .execute(&mut *conn)
                    .await?;
                Self::complete(conn, tid).await?;
            }
        }
        Ok(())
    }

    /// Recompute and store a job's state (§3.2).
    async fn refresh_job(conn: &mut SqliteConnection, job: &[u8]) -> Result<i64, WfError> {
        let row =
            sqlx::query("SELECT open_roots, canceled, retried_pending FROM wf_jobs WHERE id = ?")
                .bind(job)
                .fetch_one(&mut *conn)
                .await?;
        let open_roots: i64 = row.try_get("open_roots")?;
        let canceled: i64 = row.try_get("canceled")?;
        let retried: i64 = row.try_get("retried_pending")?;
        let counts = sqlx::query(
            "SELECT COALESCE(SUM(state = 4), 0) AS failed, COALESCE(SUM(state = 2), 0) AS running,
                    COALESCE(SUM(started_at_us IS NOT NULL), 0) AS started
             FROM wf_tasks WHERE job_id = ?",
        )
        .bind(job)
        .fetch_one(&mut *conn)
        .await?;
        let failed: i64 = counts.try_get("failed")?;
        let running: i64 = counts.try_get("running")?;
        let started: i64 = counts.try_get("started")?;
        let state = if open_roots <= 0 {
            JOB_COMPLETED
        } else if canceled == 1 {
            JOB_CANCELED
        } else if failed > 0 {
            JOB_FAILED
        } else if running > 0 || retried == 1 {
            JOB_RUNNING
        } else if started > 0 {
            JOB_STARTED
        } else {
            JOB_SUBMITTED
        };
        sqlx::query("UPDATE wf_jobs SET state = ? WHERE id = ?")
            .bind(state)
            .bind(job)
            .execute(&mut *conn)
            .await?;
        Ok(state)
    }

    async fn store_progress(
        conn: &mut SqliteConnection,
        task: &[u8],
        job: &[u8],
        progress: &[wf::Progress],
    ) -> Result<(), WfError> {
        if progress.len() > 1000 {
            return Err(WfError::invalid(
                "at most 1000 progress indicators per task",
            ));
        }
        for p in progress {
            if p.label.chars().count() > 100 {
                return Err(WfError::invalid(
                    "progress labels are at most 100 characters",
                ));
            }
            sqlx::query("INSERT OR REPLACE INTO wf_task_progress (task_id, job_id, label, total, done) VALUES (?, ?, ?, ?, ?)")
                .bind(task)
                .bind(job)
                .bind(&p.label)
                .bind(i64::try_from(p.total).unwrap_or(i64::MAX))
                .bind(i64::try_from(p.done).unwrap_or(i64::MAX))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }

    /// Requeue (or fail) running tasks whose lease ran out.
    async fn reap(&self, conn: &mut SqliteConnection, now: i64) -> Result<(), WfError> {
        type Expired = (Vec<u8>, Vec<u8>, i64, Option<i64>);
        let expired: Vec<Expired> = sqlx::query_as(
            "SELECT id, job_id, lease_expiries, started_at_us FROM wf_tasks WHERE state = 2 AND lease_until_us < ?",
        )
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        for (id, job, expiries, started) in expired {
            self.counters.lease_expiries.fetch_add(1, Ordering::Relaxed);
            let spent = started.map(|s| (now - s).max(0)).unwrap_or(0);
            sqlx::query(
                "UPDATE wf_tasks SET state = 1, lease_until_us = NULL, stopped_at_us = ?, compute_us = compute_us + ?,
                   lease_expiries = lease_expiries + 1 WHERE id = ?",
            )
            .bind(now)
            .bind(spent)
            .bind(&id)
            .execute(&mut *conn)
            .await?;
            if expiries >= self.config.max_lease_expiries {
                Self::terminal_failure(conn, &id).await?;
            }
            Self::refresh_job(conn, &job).await?;
        }
        Ok(())
    }

    /// Whether the database pool was closed (the server stopped).
    pub(crate) fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }

    /// Run the reaper in its own transaction (used by the background timer).
    pub(crate) async fn reap_now(&self) -> Result<(), WfError> {
        let (_g, mut tx) = self.begin().await?;
        self.reap(&mut tx, now_us()).await?;
        tx.commit().await?;
        Ok(())
    }

    // ------------------------------------------------------------------ TaskService

    pub(crate) async fn next_task(
        &self,
        req: &wf::NextTaskRequest,
    ) -> Result<wf::NextTaskResponse, WfError> {
        let (_g, mut tx) = self.begin().await?;
        let now = now_us();
        self.reap(&mut tx, now).await?;
        let mut prefer_job = None;
        if let Some(computed) = &req.computed_task {
            prefer_job = self.computed(&mut tx, computed, now).await?;
        }
        let Some(caps) = &req.next_task_to_run else {
            tx.commit().await?;
            return Ok(wf::NextTaskResponse::default());
        };
        if caps.cluster_slug.is_empty() {
            return Err(WfError::invalid(
                "next_task_to_run.cluster_slug must not be empty",
            ));
        }
        let mut claimed = None;
        if let Some(job) = &prefer_job {
            claimed = self.claim(&mut tx, caps, Some(job), now).await?;
        }
        if claimed.is_none() {
            claimed = self.claim(&mut tx, caps, None, now).await?;
        }
        let resp = match claimed {
            Some(c) => wf::NextTaskResponse {
                next_task: Some(self.task_msg(&mut tx, &c.id).await?),
                idling: None,
            },
            None => {
                let idle = dur_us(self.config.idle);
                let jitter = if idle > 0 {
                    (uuid::Uuid::new_v4().as_u128() % (idle as u128 / 10 + 1)) as i64
                } else {
                    0
                };
                wf::NextTaskResponse {
                    next_task: None,
                    idling: Some(wf::IdlingResponse {
                        suggested_idling_duration: Some(pdur(idle + jitter)),
                    }),
                }
            }
        };
        tx.commit().await?;
        Ok(resp)
    }

    /// Apply a ComputedTask report. Returns the job to prefer when claiming the next task.
    async fn computed(
        &self,
        conn: &mut SqliteConnection,
        computed: &wf::ComputedTask,
        now: i64,
    ) -> Result<Option<Vec<u8>>, WfError> {
        let id = computed
            .id
            .as_ref()
            .ok_or_else(|| WfError::invalid("computed_task.id is required"))?;
        let row = sqlx::query(
            "SELECT job_id, state, cluster_slug, optional_scope, in_skip, started_at_us FROM wf_tasks WHERE id = ?",
        )
        .bind(id.uuid.as_ref())
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else {
            return Err(WfError::not_found("computed task not found"));
        };
        let job: Vec<u8> = row.try_get("job_id")?;
        let state: i64 = row.try_get("state")?;
        if state != RUNNING && state != QUEUED {
            // Duplicate or late report for a finished task: ignore silently.
            return Ok(Some(job));
        }
        let groups = match &computed.sub_tasks {
            Some(s) if !s.task_groups.is_empty() => validate_submissions(s)?,
            _ if !computed.legacy_sub_tasks.is_empty() => {
                legacy_groups(&computed.legacy_sub_tasks)?
            }
            _ => Vec::new(),
        };
        Self::check_clusters(conn, &groups).await?;
        let cluster: String = row.try_get("cluster_slug")?;
        let scope: Option<Vec<u8>> = row.try_get("optional_scope")?;
        let in_skip: i64 = row.try_get("in_skip")?;
        let started: Option<i64> = row.try_get("started_at_us")?;
        let spent = if state == RUNNING {
            started.map(|s| (now - s).max(0)).unwrap_or(0)
        } else {
            0
        };
        sqlx::query(
            "UPDATE wf_tasks SET state = ?, stopped_at_us = ?, compute_us = compute_us + ?, lease_until_us = NULL,
               display = CASE WHEN ? = '' THEN display ELSE ? END
             WHERE id = ?",
        )
        .bind(COMPUTED)
        .bind(now)
        .bind(spent)
        .bind(&computed.display)
        .bind(&computed.display)
        .bind(id.uuid.as_ref())
        .execute(&mut *conn)
        .await?;
        Self::store_progress(conn, &id.uuid, &job, &computed.progress_updates).await?;
        sqlx::query("UPDATE wf_jobs SET retried_pending = 0 WHERE id = ?")
            .bind(&job)
            .execute(&mut *conn)
            .await?;
        let open = if groups.is_empty() {
            0
        } else {
            self.insert_groups(
                conn,
                &job,
                Some(&id.uuid),
                &cluster,
                scope.as_deref(),
                in_skip == 1,
                &groups,
            )
            .await?
        };
        sqlx::query("UPDATE wf_tasks SET open_children = ? WHERE id = ?")
            .bind(open)
            .bind(id.uuid.as_ref())
            .execute(&mut *conn)
            .await?;
        if open == 0 {
            Self::complete(conn, id.uuid.to_vec()).await?;
        }
        Self::refresh_job(conn, &job).await?;
        Ok(Some(job))
    }

    async fn claim(
        &self,
        conn: &mut SqliteConnection,
        caps: &wf::NextTaskToRun,
        job: Option<&[u8]>,
        now: i64,
    ) -> Result<Option<Claimed>, WfError> {
        let mut parsed: Vec<(String, i64, i64)> = Vec::new();
        for ident in &caps.identifiers {
            let Ok((major, minor)) = check_identifier(ident) else {
                continue;
            };
            if !parsed
                .iter()
                .any(|(n, a, b)| n == &ident.name && *a == major && *b == minor)
            {
                parsed.push((ident.name.clone(), major, minor));
            }
        }
        if parsed.is_empty() {
            return Ok(None);
        }
        let mut sql = String::from(
            "SELECT t.id FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id JOIN wf_task_groups g ON g.id = t.group_id
             WHERE t.state = 1 AND t.cluster_slug = ? AND j.canceled = 0 AND j.state <> 5 AND g.pending_deps = 0 AND (",
        );
        for i in 0..parsed.len() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str("(t.name = ? AND t.major = ? AND t.minor <= ?)");
        }
        sql.push(')');
        if job.is_some() {
            sql.push_str(" AND t.job_id = ? ORDER BY t.id DESC LIMIT 1");
        } else {
            sql.push_str(" ORDER BY t.id ASC LIMIT 1");
        }
        let mut q = sqlx::query_scalar::<_, Vec<u8>>(&sql).bind(&caps.cluster_slug);
        for (name, major, minor) in &parsed {
            q = q.bind(name).bind(*major).bind(*minor);
        }
        if let Some(job) = job {
            q = q.bind(job);
        }
        let Some(id) = q.fetch_optional(&mut *conn).await? else {
            return Ok(None);
        };
        let job_id: Vec<u8> = sqlx::query_scalar(
            "UPDATE wf_tasks SET state = 2, lease_until_us = ?, started_at_us = ? WHERE id = ? RETURNING job_id",
        )
        .bind(now + dur_us(self.config.lease))
        .bind(now)
        .bind(&id)
        .fetch_one(&mut *conn)
        .await?;
        sqlx::query("UPDATE wf_jobs SET retried_pending = 0 WHERE id = ?")
            .bind(&job_id)
            .execute(&mut *conn)
            .await?;
        Self::refresh_job(conn, &job_id).await?;
        self.counters.claims.fetch_add(1, Ordering::Relaxed);
        Ok(Some(Claimed { id }))
    }

    fn lease_msg(&self, lease_us: i64) -> wf::TaskLease {
        let margin = if lease_us >= 3_000_000 {
            (lease_us / 3).max(1_000_000)
        } else {
            lease_us / 2
        };
        wf::TaskLease {
            lease: Some(pdur(lease_us)),
            recommended_wait_until_next_extension: Some(pdur((lease_us - margin).max(0))),
        }
    }

    async fn task_msg(&self, conn: &mut SqliteConnection, id: &[u8]) -> Result<wf::Task, WfError> {
        let row = sqlx::query(
            "SELECT t.*, j.name AS job_name, j.trace_parent, j.submitted_at_us FROM wf_tasks t JOIN wf_jobs j ON j.id = t.job_id
             WHERE t.id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let input: Vec<u8> = row.try_get("input")?;
        let failures: i64 = row.try_get("failures")?;
        let expiries: i64 = row.try_get("lease_expiries")?;
        let job_id: Vec<u8> = row.try_get("job_id")?;
        Ok(wf::Task {
            id: Some(id_msg(id)),
            identifier: Some(wf::TaskIdentifier {
                name: row.try_get("name")?,
                version: row.try_get("version")?,
            }),
            state: row.try_get::<i64, _>("state")? as i32,
            input: Some(Bytes::from(input)),
            display: Some(row.try_get("display")?),
            job: Some(wf::Job {
                id: Some(id_msg(&job_id)),
                name: row.try_get("job_name")?,
                trace_parent: row.try_get("trace_parent")?,
                submitted_at: Some(ts(row.try_get("submitted_at_us")?)),
                ..Default::default()
            }),
            parent_id: None,
            depends_on: Vec::new(),
            lease: Some(self.lease_msg(dur_us(self.config.lease))),
            retry_count: failures + expiries,
        })
    }

    pub(crate) async fn task_failed(
        &self,
        req: &wf::TaskFailedRequest,
    ) -> Result<wf::TaskStateResponse, WfError> {
        let id = req
            .task_id
            .as_ref()
            .ok_or_else(|| WfError::invalid("task_id is required"))?;
        let (_g, mut tx) = self.begin().await?;
        let now = now_us();
        self.reap(&mut tx, now).await?;
        let row = sqlx::query(
            "SELECT job_id, state, failures, max_retries, started_at_us FROM wf_tasks WHERE id = ?",
        )
        .bind(id.uuid.as_ref())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(WfError::not_found("task not found"));
        };
        let state: i64 = row.try_get("state")?;
        if state != RUNNING {
            tx.commit().await?;
            return Ok(wf::TaskStateResponse {
                state: state as i32,
            });
        }
        let job: Vec<u8> = row.try_get("job_id")?;
        let failures: i64 = row.try_get("failures")?;
        let max_retries: i64 = row.try_get("max_retries")?;
        let started: Option<i64> = row.try_get("started_at_us")?;
        let spent = started.map(|s| (now - s).max(0)).unwrap_or(0);
        let display = truncate(&req.display, 1024);
        sqlx::query(
            "UPDATE wf_tasks SET state = 1, lease_until_us = NULL, stopped_at_us = ?, compute_us = compute_us + ?,
               display = CASE WHEN ? = '' THEN display ELSE ? END, failures = failures + ? WHERE id = ?",
        )
        .bind(now)
        .bind(spent)
        .bind(display)
        .bind(display)
        .bind(i64::from(req.was_workflow_error))
        .bind(id.uuid.as_ref())
        .execute(&mut *tx)
        .await?;
        Self::store_progress(&mut tx, &id.uuid, &job, &req.progress_updates).await?;
        sqlx::query("UPDATE wf_jobs SET retried_pending = 0 WHERE id = ?")
            .bind(&job)
            .execute(&mut *tx)
            .await?;
        if req.was_workflow_error && failures >= max_retries {
            Self::terminal_failure(&mut tx, &id.uuid).await?;
        }
        Self::refresh_job(&mut tx, &job).await?;
        let state: i64 = sqlx::query_scalar("SELECT state FROM wf_tasks WHERE id = ?")
            .bind(id.uuid.as_ref())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(wf::TaskStateResponse {
            state: state as i32,
        })
    }

    pub(crate) async fn extend_lease(
        &self,
        req: &wf::TaskLeaseRequest,
    ) -> Result<wf::TaskLease, WfError> {
        let id = req
            .task_id
            .as_ref()
            .ok_or_else(|| WfError::invalid("task_id is required"))?;
        let requested = req
            .requested_lease
            .as_ref()
            .map(pdur_us)
            .unwrap_or(0)
            .max(0);
        let granted = requested.min(dur_us(self.config.max_lease));
        let (_g, mut tx) = self.begin().await?;
        let now = now_us();
        self.reap(&mut tx, now).await?;
        if granted <= 0 {
            tx.commit().await?;
            return Ok(wf::TaskLease::default());
        }
        let n = sqlx::query("UPDATE wf_tasks SET lease_until_us = ? WHERE id = ? AND state = 2 AND lease_until_us >= ?")
            .bind(now + granted)
            .bind(id.uuid.as_ref())
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if n == 0 {
            return Ok(wf::TaskLease::default());
        }
        self.counters
            .extensions_granted
            .fetch_add(1, Ordering::Relaxed);
        Ok(self.lease_msg(granted))
    }

    // ------------------------------------------------------------------ JobService

    async fn job_exists(conn: &mut SqliteConnection, job: &[u8]) -> Result<(), WfError> {
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM wf_jobs WHERE id = ?")
            .bind(job)
            .fetch_optional(&mut *conn)
            .await?;
        match exists {
            Some(_) => Ok(()),
            None => Err(WfError::not_found(format!(
                "job {} not found",
                fmt_uuid(job)
            ))),
        }
    }

    pub(crate) async fn get_job(&self, job: &[u8], with_tasks: bool) -> Result<wf::Job, WfError> {
        let mut conn = self.pool.acquire().await?;
        Self::job_exists(&mut conn, job).await?;
        Self::job_view(&mut conn, job, with_tasks).await
    }

    pub(crate) async fn cancel_job(&self, job: &[u8]) -> Result<(), WfError> {
        let (_g, mut tx) = self.begin().await?;
        Self::job_exists(&mut tx, job).await?;
        sqlx::query("UPDATE wf_jobs SET canceled = 1 WHERE id = ? AND state <> ?")
            .bind(job)
            .bind(JOB_COMPLETED)
            .execute(&mut *tx)
            .await?;
        Self::refresh_job(&mut tx, job).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn retry_job(&self, job: &[u8]) -> Result<i64, WfError> {
        let (_g, mut tx) = self.begin().await?;
        Self::job_exists(&mut tx, job).await?;
        let state: i64 = sqlx::query_scalar("SELECT state FROM wf_jobs WHERE id = ?")
            .bind(job)
            .fetch_one(&mut *tx)
            .await?;
        if state == JOB_COMPLETED {
            tx.commit().await?;
            return Ok(0);
        }
        let n = sqlx::query("UPDATE wf_tasks SET state = 1, failures = 0, lease_expiries = 0 WHERE job_id = ? AND state = ?")
            .bind(job)
            .bind(FAILED)
            .execute(&mut *tx)
            .await?
            .rows_affected() as i64;
        sqlx::query("UPDATE wf_jobs SET canceled = 0, retried_pending = ? WHERE id = ?")
            .bind(i64::from(n > 0))
            .bind(job)
            .execute(&mut *tx)
            .await?;
        Self::refresh_job(&mut tx, job).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn job_view(
        conn: &mut SqliteConnection,
        job: &[u8],
        with_tasks: bool,
    ) -> Result<wf::Job, WfError> {
        let row = sqlx::query("SELECT * FROM wf_jobs WHERE id = ?")
            .bind(job)
            .fetch_one(&mut *conn)
            .await?;
        let state: i64 = row.try_get("state")?;
        let canceled: i64 = row.try_get("canceled")?;
        let automation: Option<Vec<u8>> = row.try_get("automation_id")?;
        let progress: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT label, SUM(total), SUM(done) FROM wf_task_progress WHERE job_id = ? GROUP BY label ORDER BY label",
        )
        .bind(job)
        .fetch_all(&mut *conn)
        .await?;
        let stats = sqlx::query(
            "SELECT MIN(started_at_us) AS first, MAX(stopped_at_us) AS last, COALESCE(SUM(compute_us), 0) AS compute,
                    COUNT(*) AS total FROM wf_tasks WHERE job_id = ?",
        )
        .bind(job)
        .fetch_one(&mut *conn)
        .await?;
        let by_state: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM wf_tasks WHERE job_id = ? GROUP BY state ORDER BY state",
        )
        .bind(job)
        .fetch_all(&mut *conn)
        .await?;
        let first: Option<i64> = stats.try_get("first")?;
        let last: Option<i64> = stats.try_get("last")?;
        let compute: i64 = stats.try_get("compute")?;
        let total: i64 = stats.try_get("total")?;
        let elapsed = match (first, last) {
            (Some(f), Some(l)) if l > f => l - f,
            _ => 0,
        };
        let legacy = if state == JOB_COMPLETED {
            3
        } else if first.is_some() {
            2
        } else {
            1
        };
        let mut summaries = Vec::new();
        if with_tasks {
            let rows = sqlx::query(
                "SELECT id, display, state, parent_id, started_at_us, stopped_at_us FROM wf_tasks WHERE job_id = ? ORDER BY id",
            )
            .bind(job)
            .fetch_all(&mut *conn)
            .await?;
            for r in rows {
                let id: Vec<u8> = r.try_get("id")?;
                let parent: Option<Vec<u8>> = r.try_get("parent_id")?;
                let started: Option<i64> = r.try_get("started_at_us")?;
                let stopped: Option<i64> = r.try_get("stopped_at_us")?;
                summaries.push(wf::TaskSummary {
                    id: Some(id_msg(&id)),
                    display: r.try_get("display")?,
                    state: r.try_get::<i64, _>("state")? as i32,
                    parent_id: parent.as_deref().map(id_msg),
                    started_at: started.map(ts),
                    stopped_at: stopped.map(ts),
                });
            }
        }
        #[allow(deprecated)]
        Ok(wf::Job {
            id: Some(id_msg(job)),
            name: row.try_get("name")?,
            trace_parent: row.try_get("trace_parent")?,
            canceled: canceled == 1 || state == JOB_FAILED,
            legacy_state: legacy,
            submitted_at: Some(ts(row.try_get("submitted_at_us")?)),
            started_at: first.map(ts),
            task_summaries: summaries,
            automation_id: automation.as_deref().map(id_msg),
            progress: progress
                .into_iter()
                .map(|(label, total, done)| wf::Progress {
                    label,
                    total: total.max(0) as u64,
                    done: done.max(0) as u64,
                })
                .collect(),
            state: state as i32,
            execution_stats: Some(wf::ExecutionStats {
                first_task_started_at: first.map(ts),
                last_task_stopped_at: last.map(ts),
                compute_time: Some(pdur(compute)),
                elapsed_time: Some(pdur(elapsed)),
                parallelism: if elapsed > 0 {
                    compute as f64 / elapsed as f64
                } else {
                    0.0
                },
                total_tasks: total.max(0) as u64,
                tasks_by_state: by_state
                    .into_iter()
                    .map(|(s, c)| wf::TaskStateCount {
                        state: s as i32,
                        count: c.max(0) as u64,
                    })
                    .collect(),
            }),
        })
    }

    pub(crate) async fn query_jobs(
        &self,
        req: &wf::QueryJobsRequest,
    ) -> Result<wf::QueryJobsResponse, WfError> {
        let f = req.filters.clone().unwrap_or_default();
        let ascending = req.sort_direction == tb::SortDirection::Ascending as i32;
        let limit = req.page.as_ref().and_then(|p| p.limit).unwrap_or(100);
        if limit < 1 {
            return Err(WfError::invalid("page.limit must be >= 1"));
        }
        let limit = limit.min(10_000);
        let mut sql = String::from("SELECT j.id FROM wf_jobs j WHERE 1 = 1");
        // Binds are pushed in SQL order through an enum to keep types straight.
        enum B {
            Blob(Vec<u8>),
            Int(i64),
            Text(String),
        }
        let mut binds: Vec<B> = Vec::new();
        if f.time_interval.is_some() && f.id_interval.is_some() {
            return Err(WfError::invalid(
                "at most one of time_interval and id_interval",
            ));
        }
        if let Some(t) = &f.time_interval {
            if let Some(s) = &t.start_time {
                sql.push_str(if t.start_exclusive {
                    " AND j.submitted_at_us > ?"
                } else {
                    " AND j.submitted_at_us >= ?"
                });
                binds.push(B::Int(s.seconds * 1_000_000 + i64::from(s.nanos) / 1000));
            }
            if let Some(e) = &t.end_time {
                sql.push_str(if t.end_inclusive {
                    " AND j.submitted_at_us <= ?"
                } else {
                    " AND j.submitted_at_us < ?"
                });
                binds.push(B::Int(e.seconds * 1_000_000 + i64::from(e.nanos) / 1000));
            }
        }
        if let Some(i) = &f.id_interval {
            if let Some(s) = &i.start_id {
                sql.push_str(if i.start_exclusive {
                    " AND j.id > ?"
                } else {
                    " AND j.id >= ?"
                });
                binds.push(B::Blob(s.uuid.to_vec()));
            }
            if let Some(e) = &i.end_id {
                sql.push_str(if i.end_inclusive {
                    " AND j.id <= ?"
                } else {
                    " AND j.id < ?"
                });
                binds.push(B::Blob(e.uuid.to_vec()));
            }
        }
        if !f.automation_ids.is_empty() {
            sql.push_str(" AND j.automation_id IN (");
            sql.push_str(&vec!["?"; f.automation_ids.len()].join(","));
            sql.push(')');
            binds.extend(f.automation_ids.iter().map(|a| B::Blob(a.uuid.to_vec())));
        }
        if !f.states.is_empty() {
            sql.push_str(" AND j.state IN (");
            sql.push_str(&vec!["?"; f.states.len()].join(","));
            sql.push(')');
            binds.extend(f.states.iter().map(|s| B::Int(i64::from(*s))));
        }
        if !f.name.is_empty() {
            sql.push_str(" AND instr(lower(j.name), lower(?)) > 0");
            binds.push(B::Text(f.name.clone()));
        }
        if !f.task_states.is_empty() {
            sql.push_str(
                " AND EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.state IN (",
            );
            sql.push_str(&vec!["?"; f.task_states.len()].join(","));
            sql.push_str("))");
            binds.extend(f.task_states.iter().map(|s| B::Int(i64::from(*s))));
        }
        if !f.cluster_slugs.is_empty() {
            sql.push_str(" AND EXISTS (SELECT 1 FROM wf_tasks t WHERE t.job_id = j.id AND t.cluster_slug IN (");
            sql.push_str(&vec!["?"; f.cluster_slugs.len()].join(","));
            sql.push_str("))");
            binds.extend(f.cluster_slugs.iter().map(|s| B::Text(s.clone())));
        }
        if let Some(after) = req.page.as_ref().and_then(|p| p.starting_after.as_ref()) {
            sql.push_str(if ascending {
                " AND j.id > ?"
            } else {
                " AND j.id < ?"
            });
            binds.push(B::Blob(after.uuid.to_vec()));
        }
        sql.push_str(if ascending {
            " ORDER BY j.id ASC LIMIT ?"
        } else {
            " ORDER BY j.id DESC LIMIT ?"
        });
        binds.push(B::Int(limit + 1));
        let mut q = sqlx::query_scalar::<_, Vec<u8>>(&sql);
        for b in binds {
            q = match b {
                B::Blob(v) => q.bind(v),
                B::Int(v) => q.bind(v),
                B::Text(v) => q.bind(v),
            };
        }
        let mut conn = self.pool.acquire().await?;
        let mut ids = q.fetch_all(&mut *conn).await?;
        let more = ids.len() as i64 > limit;
        ids.truncate(limit as usize);
        let mut jobs = Vec::with_capacity(ids.len());
        for id in &ids {
            jobs.push(Self::job_view(&mut conn, id, false).await?);
        }
        let next_page = match (more, ids.last()) {
            (true, Some(last)) => Some(tb::Pagination {
                limit: Some(limit),
                starting_after: Some(id_msg(last)),
            }),
            _ => None,
        };
        Ok(wf::QueryJobsResponse { jobs, next_page })
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn fmt_uuid(b: &[u8]) -> String {
    uuid::Uuid::from_slice(b)
        .map(|u| u.to_string())
        .unwrap_or_else(|_| format!("{b:02x?}"))
}

/// Turn legacy single-task submissions into one group per task (dependencies by index).
fn legacy_groups(tasks: &[wf::SingleTaskSubmission]) -> Result<Vec<NewGroup>, WfError> {
    if tasks.len() > 1000 {
        return Err(WfError::invalid("at most 1000 legacy tasks per submission"));
    }
    let mut subs = wf::TaskSubmissions::default();
    for (i, t) in tasks.iter().enumerate() {
        let ident = t
            .identifier
            .clone()
            .ok_or_else(|| WfError::invalid(format!("legacy task {i}: identifier missing")))?;
        subs.identifier_lookup.push(ident);
        subs.cluster_slug_lookup.push(t.cluster_slug.clone());
        subs.display_lookup.push(if t.display.is_empty() {
            "task".to_owned()
        } else {
            t.display.clone()
        });
        let mut deps = Vec::new();
        for &d in &t.dependencies {
            let d = u32::try_from(d)
                .map_err(|_| WfError::invalid(format!("legacy task {i}: bad dependency {d}")))?;
            deps.push(d);
        }
        subs.task_groups.push(wf::TaskSubmissionGroup {
            dependencies_on_other_groups: deps,
            inputs: vec![t.input.clone()],
            identifier_pointers: vec![i as u64],
            cluster_slug_pointers: vec![i as u64],
            display_pointers: vec![i as u64],
            max_retries_values: vec![t.max_retries],
            optional_values: vec![],
        });
    }
    if subs.task_groups.len() > super::validate::MAX_GROUPS {
        // Legacy submissions may hold up to 1000 tasks; validate them without the group cap.
        return Err(WfError::invalid(
            "legacy submissions with more than 64 tasks are not supported",
        ));
    }
    validate_submissions(&subs)
}
