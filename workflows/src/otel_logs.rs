//! OTLP log export of the `tracing` events inside task executions (feature `otel`): a `tracing` layer that
//! turns each event emitted within a task span into an OTLP log record carrying the `job_id` and `task_id`
//! attributes (what the server ties records to jobs and tasks by), and an exporter thread that posts them in
//! batches, protobuf-encoded, through an SDK [`Transport`] to the collector's `/v1/logs` URL.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prost::Message;
use tilebox_core::Transport;
use tilebox_core::wire::opentelemetry::proto::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use tilebox_core::wire::opentelemetry::proto::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use tilebox_core::wire::opentelemetry::proto::resource::v1::Resource;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::trace::hex_bytes;

/// Records exported in one request at most.
const BATCH: usize = 512;
/// Longest a record waits for its export.
const INTERVAL: Duration = Duration::from_secs(1);

/// `ExportLogsServiceRequest` of the OTLP collector protocol.
#[derive(Clone, PartialEq, Message)]
struct ExportLogsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    resource_logs: Vec<ResourceLogs>,
}

enum Msg {
    Record(Box<LogRecord>),
    Flush(mpsc::Sender<()>),
}

/// The exporter thread and the way to it.
pub(crate) struct LogExporter {
    tx: Mutex<Option<mpsc::Sender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for LogExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogExporter")
    }
}

fn string_value(s: String) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(s)),
    })
}

fn key_value(key: &str, value: String) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: string_value(value),
    }
}

impl LogExporter {
    /// Start the exporter thread posting to `endpoint` through `transport`.
    pub(crate) fn start(
        endpoint: String,
        service_name: String,
        transport: Arc<dyn Transport>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Msg>();
        let resource = Resource {
            attributes: vec![key_value("service.name", service_name)],
            ..Default::default()
        };
        let export = move |batch: &mut Vec<LogRecord>| {
            if batch.is_empty() {
                return;
            }
            let body = ExportLogsServiceRequest {
                resource_logs: vec![ResourceLogs {
                    resource: Some(resource.clone()),
                    scope_logs: vec![ScopeLogs {
                        scope: Some(InstrumentationScope {
                            name: "tilebox-workflows".to_owned(),
                            ..Default::default()
                        }),
                        log_records: std::mem::take(batch),
                        schema_url: String::new(),
                    }],
                    schema_url: String::new(),
                }],
            }
            .encode_to_vec();
            let request = http::Request::post(&endpoint)
                .header(http::header::CONTENT_TYPE, "application/x-protobuf")
                .body(bytes::Bytes::from(body));
            // Failures are dropped: logging must never fail a task (the exporter's own events are outside
            // task spans, so they are not exported in turn).
            match request {
                Ok(request) => match tilebox_core::block_on(transport.send(request)) {
                    Ok(resp) if resp.status().is_success() => {}
                    Ok(resp) => tracing::warn!(status = %resp.status(), "OTLP log export refused"),
                    Err(e) => tracing::warn!(error = %e, "OTLP log export failed"),
                },
                Err(e) => tracing::warn!(error = %e, "OTLP log export request"),
            }
        };
        let thread = std::thread::Builder::new()
            .name("tilebox-otlp-logs".into())
            .spawn(move || {
                let mut batch = Vec::new();
                loop {
                    match rx.recv_timeout(INTERVAL) {
                        Ok(Msg::Record(r)) => {
                            batch.push(*r);
                            if batch.len() >= BATCH {
                                export(&mut batch);
                            }
                        }
                        Ok(Msg::Flush(done)) => {
                            export(&mut batch);
                            let _ = done.send(());
                        }
                        Err(RecvTimeoutError::Timeout) => export(&mut batch),
                        Err(RecvTimeoutError::Disconnected) => return export(&mut batch),
                    }
                }
            })?;
        Ok(Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
        })
    }

    fn send(&self, msg: Msg) -> bool {
        let tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        tx.as_ref().is_some_and(|tx| tx.send(msg).is_ok())
    }

    /// Export every record emitted so far; returns when the export finished.
    pub(crate) fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.send(Msg::Flush(done)) {
            let _ = wait.recv();
        }
    }

    /// Export what is left and stop the thread.
    pub(crate) fn shutdown(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        let thread = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }
}

/// The job and task a task span belongs to (kept in the span's extensions).
#[derive(Clone)]
struct TaskIds {
    job_id: String,
    task_id: String,
    trace_id: Option<[u8; 16]>,
}

#[derive(Default)]
struct SpanFields {
    job_id: Option<String>,
    task_id: Option<String>,
    trace_id: Option<[u8; 16]>,
}

impl Visit for SpanFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.record_debug(field, &value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        let text = text.trim_matches('"').to_owned();
        match field.name() {
            "job_id" => self.job_id = Some(text),
            "task_id" => self.task_id = Some(text),
            "trace_id" => self.trace_id = hex_bytes::<16>(&text),
            _ => {}
        }
    }
}

/// An event's message and other fields.
#[derive(Default)]
struct EventFields {
    message: String,
    attributes: Vec<KeyValue>,
}

impl Visit for EventFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.attributes
                .push(key_value(field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.attributes
                .push(key_value(field.name(), format!("{value:?}")));
        }
    }
}

/// The OTLP severity number and text of a level.
fn severity(level: Level) -> (i32, &'static str) {
    match level {
        Level::TRACE => (1, "TRACE"),
        Level::DEBUG => (5, "DEBUG"),
        Level::INFO => (9, "INFO"),
        Level::WARN => (13, "WARN"),
        _ => (17, "ERROR"),
    }
}

/// The `tracing` layer exporting the events inside task executions as OTLP log records (from
/// [`OtlpTracing::logs_layer`](crate::otel::OtlpTracing::logs_layer)). Events outside task spans are
/// not exported.
#[derive(Debug, Clone)]
pub struct TaskLogLayer {
    pub(crate) exporter: Arc<LogExporter>,
}

impl<S> Layer<S> for TaskLogLayer
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().name() != "task"
            || attrs.metadata().target() != "tilebox_workflows::trace"
        {
            return;
        }
        let mut fields = SpanFields::default();
        attrs.record(&mut fields);
        if let (Some(job_id), Some(task_id), Some(span)) =
            (fields.job_id, fields.task_id, ctx.span(id))
        {
            span.extensions_mut().insert(TaskIds {
                job_id,
                task_id,
                trace_id: fields.trace_id,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        values.record(&mut fields);
        if let (Some(trace_id), Some(ids)) =
            (fields.trace_id, span.extensions_mut().get_mut::<TaskIds>())
        {
            ids.trace_id = Some(trace_id);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(scope) = ctx.event_scope(event) else {
            return;
        };
        let Some(ids) = scope
            .into_iter()
            .find_map(|span| span.extensions().get::<TaskIds>().cloned())
        else {
            return;
        };
        let mut fields = EventFields::default();
        event.record(&mut fields);
        let (number, text) = severity(*event.metadata().level());
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let now = u64::try_from(now).unwrap_or(u64::MAX);
        let mut attributes = vec![
            key_value("job_id", ids.job_id),
            key_value("task_id", ids.task_id),
            key_value("target", event.metadata().target().to_owned()),
        ];
        attributes.append(&mut fields.attributes);
        let record = LogRecord {
            time_unix_nano: now,
            observed_time_unix_nano: now,
            severity_number: number,
            severity_text: text.to_owned(),
            body: string_value(fields.message),
            attributes,
            trace_id: ids
                .trace_id
                .map(|t| bytes::Bytes::copy_from_slice(&t))
                .unwrap_or_default(),
            ..Default::default()
        };
        self.exporter.send(Msg::Record(Box::new(record)));
    }
}
