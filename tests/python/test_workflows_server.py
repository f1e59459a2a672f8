"""The local server's workflows API as the official Python SDK (tilebox-workflows 0.66.0) uses it: cluster
updates, job queries by automation / task state with paging, and job diagrams (VisualizeJob)."""

from uuid import UUID, uuid4

import pytest

TRANSPORTS = ["grpc", "http1"]


def _client(server_url, transport):
    from tilebox.workflows import Client

    return Client(url=server_url, token="local-dummy-token", transport=transport)


def _task_class():
    from tilebox.workflows import ExecutionContext, Task

    class DrawMe(Task):
        n: int

        @staticmethod
        def identifier():
            return "server-tests/DrawMe", "v1.0"

        def execute(self, context: ExecutionContext) -> None:
            pass

    return DrawMe


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_update_cluster(server_url, transport):
    clusters = _client(server_url, transport).clusters()
    created = clusters.create(f"Update me {transport}", description="before")
    renamed = clusters.update(created, name="Renamed")
    assert (renamed.slug, renamed.display_name, renamed.description) == (created.slug, "Renamed", "before")
    described = clusters.update(created.slug, description="after")
    assert (described.display_name, described.description) == ("Renamed", "after")
    assert clusters.find(created.slug).description == "after"
    clusters.delete(created)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_visualize_job(server_url, transport):
    client = _client(server_url, transport)
    job = client.jobs().submit(f"draw-{transport}", _task_class()(n=1))
    svg = client.jobs().visualize(job)
    assert svg.startswith("<svg ")
    assert svg.rstrip().endswith("</svg>")
    assert "DrawMe" in svg
    # The job id alone works too.
    assert client.jobs().visualize(str(job.id)) == svg


def test_query_jobs_by_task_state_and_automation_with_paging(server_url):
    from tilebox.workflows.data import TaskState

    client = _client(server_url, "grpc")
    jobs = client.jobs()
    name = f"paged-{uuid4().hex[:8]}"
    # More jobs than one page of the default page size (100), so the SDK follows the cursor.
    submitted = {jobs.submit(name, _task_class()(n=i)).id for i in range(105)}
    found = {j.id for j in jobs.query(name=name)}
    assert found == submitted
    queued = {j.id for j in jobs.query(name=name, task_states=TaskState.QUEUED)}
    assert queued == submitted
    assert jobs.query(name=name, task_states=[TaskState.FAILED]) == []
    assert jobs.query(name=name, automation_ids=[uuid4()]) == []
    assert all(isinstance(j.id, UUID) for j in jobs.query(name=name, automation_ids=[]))
