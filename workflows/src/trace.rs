//! Tracing of task executions: one `tracing` span per execution, in the trace of the task's job.
//!
//! Every execution runs inside an `info` span named `task` with the fields `job_id`, `task_id`,
//! `identifier`, `display`, `retry_count` and `trace_id`. A job carries a W3C trace parent
//! (`00-<trace id>-<span id>-<flags>`), set when it is submitted ([`SubmitOptions::trace_parent`](crate::SubmitOptions::trace_parent),
//! or the current OpenTelemetry span with the `otel` feature) and shared by all its tasks, subtasks
//! included: `trace_id` is that trace, and with the `otel` feature each task span becomes a child of the
//! job's span, so a job's executions on any number of runners form one trace. Spans the task code opens
//! nest inside the task span (sync tasks run with it entered, async tasks are instrumented with it).

use uuid::Uuid;

use crate::task::TaskIdentifier;

/// A parsed W3C `traceparent` header value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id (16 bytes, not all zero).
    pub trace_id: [u8; 16],
    /// The parent span id (8 bytes, not all zero).
    pub span_id: [u8; 8],
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

pub(crate) fn hex_bytes<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl TraceParent {
    /// Parse `00-<32 hex>-<16 hex>-<2 hex>`; `None` for anything else or all-zero ids.
    pub fn parse(value: &str) -> Option<Self> {
        let mut parts = value.trim().split('-');
        let (version, trace, span, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || version != "00" {
            return None;
        }
        let trace_id = hex_bytes::<16>(trace)?;
        let span_id = hex_bytes::<8>(span)?;
        let [flags] = hex_bytes::<1>(flags)?;
        if trace_id == [0; 16] || span_id == [0; 8] {
            return None;
        }
        Some(Self {
            trace_id,
            span_id,
            flags,
        })
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Display for TraceParent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "00-{}-", self.trace_id_hex())?;
        for b in self.span_id {
            write!(f, "{b:02x}")?;
        }
        write!(f, "-{:02x}", self.flags)
    }
}

/// The span of one task execution, a child of the job's trace context.
pub(crate) fn task_span(
    job_id: Uuid,
    task_id: Uuid,
    identifier: &TaskIdentifier,
    shown: &str,
    trace_parent: &str,
    retry_count: i64,
) -> tracing::Span {
    let span = tracing::info_span!(
        "task",
        otel.name = %shown,
        job_id = %job_id,
        task_id = %task_id,
        identifier = %identifier,
        display = %shown,
        retry_count,
        trace_id = tracing::field::Empty,
    );
    if let Some(parent) = TraceParent::parse(trace_parent) {
        span.record("trace_id", parent.trace_id_hex());
        #[cfg(feature = "otel")]
        crate::otel::set_parent(&span, &parent);
    }
    span
}

/// The trace parent for a new job: the current OpenTelemetry span's context with the `otel` feature
/// when there is one, else a new random trace.
pub(crate) fn new_job_trace_parent() -> String {
    #[cfg(feature = "otel")]
    if let Some(tp) = crate::otel::current_trace_parent() {
        return tp.to_string();
    }
    let trace = Uuid::new_v4().simple().to_string();
    let span = &Uuid::new_v4().simple().to_string()[..16];
    format!("00-{trace}-{span}-01")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_parent_round_trip_and_rejects() {
        let v = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let tp = TraceParent::parse(v).expect("valid");
        assert_eq!(tp.to_string(), v);
        assert_eq!(tp.trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
        for bad in [
            "",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-x",
        ] {
            assert_eq!(TraceParent::parse(bad), None, "{bad}");
        }
    }
}
