//! Telemetry rows: the log records and spans runners export, kept per record with their resource and scope,
//! and the retention limit.

use std::ops::Bound;

use super::{fmt_id, jobs, now_us};
use crate::store::RawId;
use crate::store::db::{Built, Db, DbError, Row, Value, args};
use crate::store::workflows::{
    NewTelemetry, Retention, StoredTelemetry, TelemetryKind, TelemetryPage, TelemetryQuery,
    TelemetryScope, WfResult, WorkflowsStoreError,
};

fn table(kind: TelemetryKind) -> &'static str {
    match kind {
        TelemetryKind::Logs => "wf_telemetry_logs",
        TelemetryKind::Spans => "wf_telemetry_spans",
    }
}

/// Stores `records`, then applies the retention limit to their table.
pub(super) fn store(
    db: &mut dyn Db,
    kind: TelemetryKind,
    records: &[NewTelemetry],
    retention: Retention,
) -> WfResult<u64> {
    let now = now_us();
    let table = table(kind);
    let sql = format!(
        "INSERT INTO {table} (received_at_us, time_ns, trace_id, job_id, task_id, resource, scope, record{})
         VALUES (?, ?, ?, ?, ?, ?, ?, ?{})",
        if kind == TelemetryKind::Logs { ", severity" } else { "" },
        if kind == TelemetryKind::Logs { ", ?" } else { "" },
    );
    for r in records {
        let mut params = args![
            now,
            r.time_ns,
            r.trace_id.as_ref(),
            r.job_id.as_ref(),
            r.task_id.as_ref(),
            &r.resource,
            &r.scope,
            &r.record
        ]
        .to_vec();
        if kind == TelemetryKind::Logs {
            params.push(r.severity.into());
        }
        db.execute(&sql, &params)?;
    }
    db.execute(
        &format!("DELETE FROM {table} WHERE received_at_us < ?"),
        args![now.saturating_sub(retention.max_age_us)],
    )?;
    db.execute(
        &format!(
            "DELETE FROM {table} WHERE id <= (SELECT id FROM {table} ORDER BY id DESC LIMIT 1 OFFSET ?)"
        ),
        args![i64::try_from(retention.max_rows).unwrap_or(i64::MAX)],
    )?;
    Ok(records.len() as u64)
}

/// The trace id a job's trace parent (`00-<trace id>-<span id>-<flags>`) names, if it is well formed.
fn trace_of(trace_parent: &str) -> Option<Vec<u8>> {
    let hex = trace_parent.split('-').nth(1).filter(|h| h.len() == 32)?;
    (0..16)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

fn from_row(row: &dyn Row) -> Result<StoredTelemetry, DbError> {
    Ok(StoredTelemetry {
        id: row.get(0)?,
        time_ns: row.get(1)?,
        resource: row.get(2)?,
        scope: row.get(3)?,
        record: row.get(4)?,
    })
}

/// Appends the time bounds (ns) to a query of either table.
fn time_bounds(b: &mut Built, (start, end): (Bound<i64>, Bound<i64>)) {
    jobs::bound(b, "time_ns", start.map(Value::Int), true);
    jobs::bound(b, "time_ns", end.map(Value::Int), false);
}

/// The job's trace id, `NotFound` when the job does not exist.
fn job_trace(db: &mut dyn Db, job: &RawId) -> WfResult<Option<Vec<u8>>> {
    let parent: Option<String> = db.query_opt(
        "SELECT trace_parent FROM wf_jobs WHERE id = ?",
        args![job],
        |r| r.get(0),
    )?;
    let parent = parent
        .ok_or_else(|| WorkflowsStoreError::NotFound(format!("job {} not found", fmt_id(job))))?;
    Ok(trace_of(&parent))
}

/// One page of stored telemetry, ordered by (time, row id).
pub(super) fn query(db: &mut dyn Db, q: &TelemetryQuery) -> WfResult<TelemetryPage> {
    let mut b = Built::default();
    b.push(&format!(
        "SELECT id, time_ns, resource, scope, record FROM {} WHERE 1 = 1",
        table(q.kind)
    ));
    match &q.scope {
        TelemetryScope::Job { job_id, task_id } => {
            match job_trace(db, job_id)? {
                Some(trace) => {
                    b.push(" AND (job_id = ");
                    b.bind(Value::Blob(job_id.to_vec()));
                    b.push(" OR trace_id = ");
                    b.bind(Value::Blob(trace));
                    b.push(")");
                }
                None => {
                    b.push(" AND job_id = ");
                    b.bind(Value::Blob(job_id.to_vec()));
                }
            }
            if let Some(task) = task_id {
                b.push(" AND task_id = ");
                b.bind(Value::Blob(task.to_vec()));
            }
        }
        TelemetryScope::Interval(time) => time_bounds(&mut b, *time),
    }
    if q.kind == TelemetryKind::Logs && !q.severities.is_empty() {
        b.push(" AND (");
        for (i, (lo, hi)) in q.severities.iter().enumerate() {
            b.push(if i == 0 {
                "severity BETWEEN "
            } else {
                " OR severity BETWEEN "
            });
            b.bind(Value::Int((*lo).into()));
            b.push(" AND ");
            b.bind(Value::Int((*hi).into()));
        }
        b.push(")");
    }
    let (cmp, dir) = if q.ascending {
        (">", "ASC")
    } else {
        ("<", "DESC")
    };
    if let Some((time, id)) = q.after {
        b.push(&format!(" AND (time_ns {cmp} "));
        b.bind(Value::Int(time));
        b.push(" OR (time_ns = ");
        b.bind(Value::Int(time));
        b.push(&format!(" AND id {cmp} "));
        b.bind(Value::Int(id));
        b.push("))");
    }
    b.push(&format!(" ORDER BY time_ns {dir}, id {dir} LIMIT "));
    b.bind(Value::Int(
        i64::try_from(q.limit.saturating_add(1)).unwrap_or(i64::MAX),
    ));
    let mut records = db.query(&b.sql, &b.params(), from_row)?;
    let more = records.len() as u64 > q.limit;
    records.truncate(q.limit as usize);
    Ok(TelemetryPage { records, more })
}

/// Log records in the time bounds per severity number.
pub(super) fn log_counts(
    db: &mut dyn Db,
    time: (Bound<i64>, Bound<i64>),
) -> WfResult<Vec<(i32, u64)>> {
    let mut b = Built::default();
    b.push("SELECT severity, COUNT(*) FROM wf_telemetry_logs WHERE 1 = 1");
    time_bounds(&mut b, time);
    b.push(" GROUP BY severity ORDER BY severity");
    Ok(db.query(&b.sql, &b.params(), |r| {
        let severity: i64 = r.get(0)?;
        let count: i64 = r.get(1)?;
        Ok((
            i32::try_from(severity).unwrap_or_default(),
            u64::try_from(count).unwrap_or_default(),
        ))
    })?)
}

#[cfg(test)]
mod tests {
    use super::trace_of;

    #[test]
    fn trace_ids_of_trace_parents() {
        let tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let id = trace_of(tp).expect("a valid trace parent");
        assert_eq!(id[0], 0x0a);
        assert_eq!(id[15], 0x9c);
        assert_eq!(trace_of("garbage"), None);
        assert_eq!(trace_of("00-xyz-b7ad6b7169203331-01"), None);
    }
}
