//! OpenTelemetry export of task spans and logs (feature `otel`): a `tracing` layer that turns spans into
//! OpenTelemetry spans and exports them over OTLP/HTTP with protobuf bodies, and (with
//! [`OtlpTracingBuilder::logs_endpoint`]) a second layer exporting the `tracing` events inside task executions
//! as OTLP log records with `job_id` and `task_id` attributes, which the Tilebox server ties to the job and
//! task (see [`JobClient::logs`](crate::JobClient::logs)).
//!
//! The exporter sends through an SDK [`Transport`], so no HTTP stack beyond the adapter's is pulled in (no
//! gRPC, no second TLS provider). Exports run on the batch processor's own thread, which polls the
//! transport's futures with [`tilebox_core::block_on`]: use a transport that needs no runtime on that
//! thread — the blocking adapter's (`tilebox_blocking::Client::builder().build()?.as_async().rpc().transport()`)
//! or the async-std adapter's.
//!
//! ```no_run
//! # fn run(transport: std::sync::Arc<dyn tilebox_core::Transport>) -> Result<(), Box<dyn std::error::Error>> {
//! use tracing_subscriber::layer::SubscriberExt;
//! let otlp = tilebox_workflows::otel::OtlpTracing::builder()
//!     .endpoint("http://127.0.0.1:8080/v1/traces")
//!     .logs_endpoint("http://127.0.0.1:8080/v1/logs")
//!     .service_name("my-runner")
//!     .transport(transport)
//!     .build()?;
//! let subscriber = tracing_subscriber::registry().with(otlp.layer()).with(otlp.logs_layer());
//! tracing::subscriber::set_global_default(subscriber)?;
//! // ... run jobs ...
//! otlp.shutdown();
//! # Ok(()) }
//! ```
//!
//! With the layer installed, each task span is a child of its job's span (the W3C trace parent the job was
//! submitted with), and [`JobClient::submit`](crate::JobClient::submit) submits jobs in the trace of the
//! current span.

use std::sync::Arc;

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider,
};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tilebox_core::Transport;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::error::{Result, WorkflowsError};
use crate::otel_logs::LogExporter;
pub use crate::otel_logs::TaskLogLayer;
use crate::trace::TraceParent;

/// Make task spans children of the job's trace context.
pub(crate) fn set_parent(span: &tracing::Span, parent: &TraceParent) {
    let context = SpanContext::new(
        TraceId::from_bytes(parent.trace_id),
        SpanId::from_bytes(parent.span_id),
        TraceFlags::new(parent.flags),
        true,
        TraceState::default(),
    );
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(context));
}

/// The trace parent of the current span, if it belongs to an OpenTelemetry trace.
pub(crate) fn current_trace_parent() -> Option<TraceParent> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let sc = span.span_context();
    if !sc.is_valid() {
        return None;
    }
    Some(TraceParent {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
        flags: sc.trace_flags().to_u8(),
    })
}

/// The OTLP exporter's HTTP client: the SDK transport, driven to completion on the exporting thread.
struct TransportClient(Arc<dyn Transport>);

impl std::fmt::Debug for TransportClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TransportClient")
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for TransportClient {
    async fn send_bytes(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> std::result::Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        Ok(self.0.send(request).await?)
    }
}

/// Builder of [`OtlpTracing`].
#[derive(Default)]
pub struct OtlpTracingBuilder {
    endpoint: Option<String>,
    logs_endpoint: Option<String>,
    service_name: Option<String>,
    transport: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for OtlpTracingBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtlpTracingBuilder")
            .field("endpoint", &self.endpoint)
            .field("logs_endpoint", &self.logs_endpoint)
            .field("service_name", &self.service_name)
            .finish_non_exhaustive()
    }
}

impl OtlpTracingBuilder {
    /// The collector's traces URL, e.g. `http://127.0.0.1:4318/v1/traces` (required).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The collector's logs URL, e.g. `http://127.0.0.1:4318/v1/logs`: export the `tracing` events inside
    /// task executions as logs there (through [`OtlpTracing::logs_layer`]).
    pub fn logs_endpoint(mut self, url: impl Into<String>) -> Self {
        self.logs_endpoint = Some(url.into());
        self
    }

    /// The `service.name` resource attribute (default `tilebox-workflows`).
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// The transport exports go through (required; see the module docs for which ones fit).
    pub fn transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// Build the exporter and its tracer provider.
    pub fn build(self) -> Result<OtlpTracing> {
        let endpoint = self
            .endpoint
            .ok_or_else(|| WorkflowsError::Invalid("OTLP endpoint missing".into()))?;
        let transport = self
            .transport
            .ok_or_else(|| WorkflowsError::Invalid("OTLP transport missing".into()))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
            .with_endpoint(endpoint)
            .with_http_client(TransportClient(Arc::clone(&transport)))
            .build()
            .map_err(|e| WorkflowsError::Invalid(format!("OTLP exporter: {e}")))?;
        let service_name = self
            .service_name
            .unwrap_or_else(|| "tilebox-workflows".to_owned());
        let logs = match self.logs_endpoint {
            Some(url) => Some(Arc::new(LogExporter::start(
                url,
                service_name.clone(),
                transport,
            )?)),
            None => None,
        };
        let resource = opentelemetry_sdk::Resource::builder()
            .with_service_name(service_name)
            .build();
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        Ok(OtlpTracing { provider, logs })
    }
}

/// An OTLP/HTTP span exporter and the tracer provider feeding it, and optionally a log exporter.
#[derive(Debug, Clone)]
pub struct OtlpTracing {
    provider: SdkTracerProvider,
    logs: Option<Arc<LogExporter>>,
}

impl OtlpTracing {
    /// Configure an exporter.
    pub fn builder() -> OtlpTracingBuilder {
        OtlpTracingBuilder::default()
    }

    /// The `tracing` layer exporting spans of subscriber `S`.
    pub fn layer<S>(
        &self,
    ) -> tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        tracing_opentelemetry::layer().with_tracer(self.provider.tracer("tilebox-workflows"))
    }

    /// The `tracing` layer exporting the events inside task executions as logs; `None` (a layer that does
    /// nothing) without a [`logs_endpoint`](OtlpTracingBuilder::logs_endpoint).
    pub fn logs_layer(&self) -> Option<TaskLogLayer> {
        self.logs.as_ref().map(|exporter| TaskLogLayer {
            exporter: Arc::clone(exporter),
        })
    }

    /// Export every finished span and every log record emitted so far, now.
    pub fn flush(&self) -> Result<()> {
        if let Some(logs) = &self.logs {
            logs.flush();
        }
        self.provider
            .force_flush()
            .map_err(|e| WorkflowsError::Invalid(format!("OTLP flush: {e}")))
    }

    /// Export what is left and stop the exporter.
    pub fn shutdown(&self) {
        if let Some(logs) = &self.logs {
            logs.shutdown();
        }
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "OTLP exporter shutdown");
        }
    }
}
