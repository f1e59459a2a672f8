//! `workflows.v1.TelemetryQueryService`: the log records and spans runners exported (see the OTLP endpoints
//! in `protocol::otlp`), per job or per time interval.

use std::ops::Bound;

use bytes::Bytes;
use prost::Message;
use tilebox_core::wire::opentelemetry::proto::common::v1::InstrumentationScope;
use tilebox_core::wire::opentelemetry::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use tilebox_core::wire::opentelemetry::proto::resource::v1::Resource;
use tilebox_core::wire::opentelemetry::proto::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tilebox_core::wire::tilebox::v1 as tb;
use tilebox_core::wire::workflows::v1::{
    GetLogMessageCountsRequest, GetLogMessageCountsResponse, LogQueryFilters, LogSeverityCount,
    LogSeverityGroup, PaginatedLogsData, PaginatedSpansData, QueryJobLogsRequest,
    QueryJobSpansRequest, QueryLogsInIntervalRequest,
};

use super::{status, wire};
use crate::registry::{RpcContext, ServiceRegistry};
use crate::status::Status;
use crate::store::workflows::{
    StoredTelemetry, TelemetryKind, TelemetryPage, TelemetryQuery, TelemetryScope,
};

/// Default page size of telemetry queries.
const DEFAULT_PAGE: i64 = 1_000;
/// Largest page size of telemetry queries.
const MAX_PAGE: i64 = 10_000;

pub(super) fn register(r: &mut ServiceRegistry) {
    r.unary(
        "workflows.v1.TelemetryQueryService/QueryJobLogs",
        query_job_logs,
    );
    r.unary(
        "workflows.v1.TelemetryQueryService/QueryLogsInInterval",
        query_logs_in_interval,
    );
    r.unary(
        "workflows.v1.TelemetryQueryService/GetLogMessageCounts",
        get_log_message_counts,
    );
    r.unary(
        "workflows.v1.TelemetryQueryService/QueryJobSpans",
        query_job_spans,
    );
}

/// The OTLP severity numbers of a severity group (errors include fatal).
fn severity_range(group: LogSeverityGroup) -> Option<(i32, i32)> {
    match group {
        LogSeverityGroup::Unspecified => None,
        LogSeverityGroup::Trace => Some((1, 4)),
        LogSeverityGroup::Debug => Some((5, 8)),
        LogSeverityGroup::Info => Some((9, 12)),
        LogSeverityGroup::Warning => Some((13, 16)),
        LogSeverityGroup::Error => Some((17, 24)),
    }
}

/// The severity group of an OTLP severity number.
fn severity_group(number: i32) -> LogSeverityGroup {
    [
        LogSeverityGroup::Trace,
        LogSeverityGroup::Debug,
        LogSeverityGroup::Info,
        LogSeverityGroup::Warning,
        LogSeverityGroup::Error,
    ]
    .into_iter()
    .find(|g| severity_range(*g).is_some_and(|(lo, hi)| (lo..=hi).contains(&number)))
    .unwrap_or(LogSeverityGroup::Unspecified)
}

fn severities(filters: Option<&LogQueryFilters>) -> Result<Vec<(i32, i32)>, Status> {
    let mut out = Vec::new();
    for &level in filters.map_or(&[][..], |f| &f.severity_levels) {
        let group = LogSeverityGroup::try_from(level)
            .ok()
            .and_then(severity_range)
            .ok_or_else(|| {
                Status::invalid_argument(format!(
                    "filters.severity_levels: unknown severity level {level}"
                ))
            })?;
        out.push(group);
    }
    Ok(out)
}

/// The page cursor of a record: its time and row id, as a 16-byte id.
fn cursor(record: &StoredTelemetry) -> tb::Id {
    let mut raw = [0u8; 16];
    raw[..8].copy_from_slice(&record.time_ns.to_be_bytes());
    raw[8..].copy_from_slice(&record.id.to_be_bytes());
    tb::Id {
        uuid: Bytes::copy_from_slice(&raw),
    }
}

/// The query for a request's page, sort direction and scope.
fn query(
    kind: TelemetryKind,
    scope: TelemetryScope,
    page: Option<&tb::Pagination>,
    sort_direction: i32,
    severities: Vec<(i32, i32)>,
) -> Result<TelemetryQuery, Status> {
    let limit = wire::page_limit(page, DEFAULT_PAGE, MAX_PAGE)?;
    let after = match page.and_then(|p| p.starting_after.as_ref()) {
        None => None,
        Some(id) => {
            let raw: [u8; 16] = id.uuid.as_ref().try_into().map_err(|_| {
                Status::invalid_argument("page.starting_after: expected a 16-byte cursor")
            })?;
            let (time, row) = raw.split_at(8);
            Some((
                i64::from_be_bytes(time.try_into().unwrap_or_default()),
                i64::from_be_bytes(row.try_into().unwrap_or_default()),
            ))
        }
    };
    Ok(TelemetryQuery {
        kind,
        scope,
        severities,
        // Oldest first unless asked otherwise: logs read like a log file.
        ascending: sort_direction != tb::SortDirection::Descending as i32,
        after,
        limit,
    })
}

/// A job's scope from its request fields.
fn job_scope(job_id: Option<&tb::Id>, task_id: Option<&tb::Id>) -> Result<TelemetryScope, Status> {
    Ok(TelemetryScope::Job {
        job_id: wire::id(job_id, "job_id")?,
        task_id: task_id.map(|t| wire::id(Some(t), "task_id")).transpose()?,
    })
}

/// A page's records and the next page's cursor.
async fn page(
    ctx: &RpcContext,
    query: TelemetryQuery,
) -> Result<(Vec<StoredTelemetry>, Option<tb::Pagination>), Status> {
    let limit = query.limit;
    let TelemetryPage { records, more } = ctx
        .state
        .workflows
        .query_telemetry(query)
        .await
        .map_err(status)?;
    let next = match (more, records.last()) {
        (true, Some(last)) => Some(tb::Pagination {
            limit: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
            starting_after: Some(cursor(last)),
        }),
        _ => None,
    };
    Ok((records, next))
}

/// Decodes a stored part; a part that does not decode is left empty (it was encoded by this server).
fn part<M: Message + Default>(bytes: &Bytes) -> M {
    M::decode(bytes.clone()).unwrap_or_default()
}

fn resource_logs(r: &StoredTelemetry) -> ResourceLogs {
    ResourceLogs {
        resource: Some(part::<Resource>(&r.resource)),
        scope_logs: vec![ScopeLogs {
            scope: Some(part::<InstrumentationScope>(&r.scope)),
            log_records: vec![part::<LogRecord>(&r.record)],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

fn resource_spans(r: &StoredTelemetry) -> ResourceSpans {
    ResourceSpans {
        resource: Some(part::<Resource>(&r.resource)),
        scope_spans: vec![ScopeSpans {
            scope: Some(part::<InstrumentationScope>(&r.scope)),
            spans: vec![part::<Span>(&r.record)],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    }
}

async fn logs_page(ctx: &RpcContext, query: TelemetryQuery) -> Result<PaginatedLogsData, Status> {
    let (records, next_page) = page(ctx, query).await?;
    Ok(PaginatedLogsData {
        resource_logs: records.iter().map(resource_logs).collect(),
        next_page,
    })
}

async fn query_job_logs(
    ctx: RpcContext,
    req: QueryJobLogsRequest,
) -> Result<PaginatedLogsData, Status> {
    let scope = job_scope(req.job_id.as_ref(), req.task_id.as_ref())?;
    let q = query(
        TelemetryKind::Logs,
        scope,
        req.page.as_ref(),
        req.sort_direction,
        severities(req.filters.as_ref())?,
    )?;
    logs_page(&ctx, q).await
}

async fn query_logs_in_interval(
    ctx: RpcContext,
    req: QueryLogsInIntervalRequest,
) -> Result<PaginatedLogsData, Status> {
    let time = interval(req.time_interval.as_ref())?;
    let q = query(
        TelemetryKind::Logs,
        TelemetryScope::Interval(time),
        req.page.as_ref(),
        req.sort_direction,
        severities(req.filters.as_ref())?,
    )?;
    logs_page(&ctx, q).await
}

async fn query_job_spans(
    ctx: RpcContext,
    req: QueryJobSpansRequest,
) -> Result<PaginatedSpansData, Status> {
    let scope = job_scope(req.job_id.as_ref(), req.task_id.as_ref())?;
    let q = query(
        TelemetryKind::Spans,
        scope,
        req.page.as_ref(),
        req.sort_direction,
        Vec::new(),
    )?;
    let (records, next_page) = page(&ctx, q).await?;
    Ok(PaginatedSpansData {
        resource_spans: records.iter().map(resource_spans).collect(),
        next_page,
    })
}

/// The bounds (ns) of a required time interval.
fn interval(t: Option<&tb::TimeInterval>) -> Result<(Bound<i64>, Bound<i64>), Status> {
    let t = t.ok_or_else(|| Status::invalid_argument("time_interval is required"))?;
    let bounds = wire::time_bounds(Some(t), wire::timestamp_ns);
    if let (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) =
        bounds
        && s > e
    {
        return Err(Status::invalid_argument(
            "time_interval: start_time is after end_time",
        ));
    }
    Ok(bounds)
}

async fn get_log_message_counts(
    ctx: RpcContext,
    req: GetLogMessageCountsRequest,
) -> Result<GetLogMessageCountsResponse, Status> {
    let time = interval(req.time_interval.as_ref())?;
    let by_number = ctx.state.workflows.log_counts(time).await.map_err(status)?;
    let mut counts: Vec<LogSeverityCount> = Vec::new();
    let mut total = 0i64;
    for (number, n) in by_number {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        total = total.saturating_add(n);
        let severity = severity_group(number) as i32;
        match counts.iter_mut().find(|c| c.severity == severity) {
            Some(c) => c.count += n,
            None => counts.push(LogSeverityCount { severity, count: n }),
        }
    }
    Ok(GetLogMessageCountsResponse {
        counts,
        total_messages: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_groups_cover_the_otlp_numbers() {
        assert_eq!(severity_group(0), LogSeverityGroup::Unspecified);
        assert_eq!(severity_group(1), LogSeverityGroup::Trace);
        assert_eq!(severity_group(9), LogSeverityGroup::Info);
        assert_eq!(severity_group(13), LogSeverityGroup::Warning);
        assert_eq!(severity_group(21), LogSeverityGroup::Error);
        assert_eq!(severity_group(25), LogSeverityGroup::Unspecified);
    }
}
