"""Workflows interop with the official Python SDK (tilebox-workflows 0.66.0) against the local server.

A task submitted from Rust is run by a Python runner, and a task submitted from Python is run by a Rust
runner (the `workflows_peer` example binary). Both sides share `peer/Greeting` v1.0, whose input is the JSON
object {"name": ..., "count": ...} (a multi-field dataclass in Python, a serde struct in Rust).
"""

import subprocess
from uuid import UUID

import pytest

EXECUTED = []

def _greeting_class():
    from tilebox.workflows import ExecutionContext, Task

    class Greeting(Task):
        name: str
        count: int

        @staticmethod
        def identifier():
            return "peer/Greeting", "v1.0"

        def execute(self, context: ExecutionContext) -> None:
            EXECUTED.append((self.name, self.count))

    return Greeting

@pytest.mark.parametrize("transport", ["grpc", "http1"])
def test_rust_submitted_task_runs_on_a_python_runner(server_url, peer, transport):
    from tilebox.workflows import Client
    from tilebox.workflows.data import JobState

    out = subprocess.run([str(peer), "submit", server_url, f"from-rust-{transport}", "3"], check=True,
                         capture_output=True, text=True, timeout=60)
    job_id = UUID(out.stdout.strip())
    client = Client(url=server_url, token="local-dummy-token", transport=transport)
    runner = client.runner(tasks=[_greeting_class()])
    runner.run_all()
    assert (f"from-rust-{transport}", 3) in EXECUTED
    assert client.jobs().find(job_id).state == JobState.COMPLETED

def test_python_submitted_task_runs_on_a_rust_runner(server_url, peer):
    from tilebox.workflows import Client
    from tilebox.workflows.data import JobState

    client = Client(url=server_url, token="local-dummy-token")
    job = client.jobs().submit("python-submitted", _greeting_class()(name="from-python", count=2))
    out = subprocess.run([str(peer), "run", server_url, str(job.id)], check=True, capture_output=True, text=True,
                         timeout=120)
    assert "rust executed Greeting name=from-python count=2" in out.stdout
    assert client.jobs().find(job.id).state == JobState.COMPLETED

@pytest.mark.parametrize("transport", ["grpc", "http1"])
def test_the_official_clients_span_exports_are_accepted(server_url, transport, caplog):
    """The official client exports its task spans over OTLP/HTTP to `{url}/v1/traces` of the API it uses;
    the local server accepts them (before, every export logged "Failed to export spans batch code: 501")."""
    import logging

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from tilebox.workflows import Client
    from tilebox.workflows.data import JobState

    caplog.set_level(logging.WARNING)
    client = Client(url=server_url, token="local-dummy-token", transport=transport)
    job = client.jobs().submit("traced", _greeting_class()(name=f"traced-{transport}", count=1))
    client.runner(tasks=[_greeting_class()]).run_all()
    assert client.jobs().find(job.id).state == JobState.COMPLETED
    # The client's span processor: flush the runner's spans to the server now.
    assert client._tracer._tilebox_span_exporter.force_flush()  # noqa: SLF001
    failures = [r.getMessage() for r in caplog.records if "export" in r.getMessage().lower()]
    assert failures == []

    # The same exporter the client uses, called directly, reports success.
    provider = TracerProvider()
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    with provider.get_tracer("peer").start_as_current_span("task"):
        pass
    exporter = OTLPSpanExporter(endpoint=f"{server_url}/v1/traces",
                                headers={"Authorization": "Bearer local-dummy-token"})
    assert exporter.export(memory.get_finished_spans()) == SpanExportResult.SUCCESS
    exporter.shutdown()

def _logging_greeting_class():
    from tilebox.workflows import ExecutionContext, Task

    class LoggingGreeting(Task):
        name: str

        @staticmethod
        def identifier():
            return "peer/LoggingGreeting", "v1.0"

        def execute(self, context: ExecutionContext) -> None:
            context.logger.warning(f"hello {self.name}")

    return LoggingGreeting

@pytest.mark.parametrize("transport", ["grpc", "http1"])
def test_logs_and_spans_of_a_job_run_by_the_official_runner(server_url, transport):
    """The official runner exports its task spans and logs to `{url}/v1/traces` and `/v1/logs`; the server keeps
    them and `query_spans` / `query_logs` (TelemetryQueryService) read them back by job, task and level."""
    from tilebox.workflows import Client
    from tilebox.workflows.data import JobState
    from tilebox.workflows.observability.logging import flush_api_logging

    client = Client(url=server_url, token="local-dummy-token", transport=transport)
    job = client.jobs().submit("logged", _logging_greeting_class()(name=f"logs-{transport}"))
    client.runner(tasks=[_logging_greeting_class()]).run_all()
    assert client.jobs().find(job.id).state == JobState.COMPLETED
    assert client._tracer._tilebox_span_exporter.force_flush()  # noqa: SLF001
    flush_api_logging(10_000)

    spans = client.jobs().query_spans(job)
    task_spans = [s for s in spans if s.name == "task/LoggingGreeting"]
    assert len(task_spans) == 1
    task_id = task_spans[0].attributes["task_id"]
    assert client.jobs().query_spans(job, task_id=task_id)

    logs = client.jobs().query_logs(job)
    ours = [r for r in logs if r.body == f"hello logs-{transport}"]
    assert len(ours) == 1
    assert ours[0].attributes.get("task_id") == task_id
    assert [r.body for r in client.jobs().query_logs(job, level="error")] == []
    assert [r.body for r in client.jobs().query_logs(job, task_id=task_id, level="warning")] == [ours[0].body]

@pytest.mark.parametrize("transport", ["grpc", "http1"])
def test_logs_and_spans_of_a_job_run_by_the_rust_runner(server_url, peer, transport):
    """The Rust runner (`workflows_peer run`, feature `otel`) exports its task spans and the `tracing` events inside
    the task to `{url}/v1/traces` and `/v1/logs`; the official client's `query_spans` / `query_logs` read them back
    by job, task and level."""
    from tilebox.workflows import Client
    from tilebox.workflows.data import JobState

    client = Client(url=server_url, token="local-dummy-token", transport=transport)
    name = f"rust-logs-{transport}"
    job = client.jobs().submit("rust-logged", _greeting_class()(name=name, count=2))
    out = subprocess.run([str(peer), "run", server_url, str(job.id)], check=True, capture_output=True, text=True,
                         timeout=120)
    assert f"rust executed Greeting name={name} count=2" in out.stdout
    assert client.jobs().find(job.id).state == JobState.COMPLETED

    # The runner flushed its exports before exiting: its one task span is there, named after the task.
    spans = client.jobs().query_spans(job)
    task_spans = [s for s in spans if "task_id" in s.attributes]
    assert len(task_spans) == 1, spans
    assert task_spans[0].attributes.get("job_id") == str(job.id)
    task_id = task_spans[0].attributes["task_id"]
    assert [s.attributes["task_id"] for s in client.jobs().query_spans(job, task_id=task_id)] == [task_id]

    logs = client.jobs().query_logs(job)
    bodies = sorted(r.body for r in logs if r.body.startswith("rust greet"))
    assert bodies == [f"rust greeted {name} x2", f"rust greeting {name}"], logs
    assert all(r.attributes.get("task_id") == task_id for r in logs if r.body.startswith("rust greet"))
    assert [r.body for r in client.jobs().query_logs(job, level="error")] == []
    assert [r.body for r in client.jobs().query_logs(job, task_id=task_id, level="warning")] == [
        f"rust greeted {name} x2"]

def test_workflow_definitions(server_url):
    from tilebox.workflows import Client

    client = Client(url=server_url, token="local-dummy-token")
    workflows = client.workflows()
    created = workflows.create("Peer Workflow", "made by the official client", "a description")
    assert created.slug == "peer-workflow"
    assert any(w.slug == created.slug for w in workflows.all())
    assert workflows.find(created.slug).summary == "made by the official client"
    updated = workflows.update(created.slug, name="Renamed")
    assert updated.name == "Renamed"
    workflows.delete(created.slug)
    assert all(w.slug != created.slug for w in workflows.all())
    with pytest.raises(Exception, match="not found"):
        workflows.find(created.slug)
