"""Automations and storage locations with the official Python client (tilebox-workflows 0.66.0) against the
local server: locations are created, listed, found and renamed; cron and storage-event automations are
created, listed, found and deleted; a file written into a local location fires its automation and the
official runner runs the triggered task with the storage event it received; cron and storage-event
automations created here run their tasks on a Rust runner (the `workflows_peer` example binary)."""

import time
from pathlib import Path

import pytest

EXECUTED = []


def _tasks():
    from tilebox.workflows import ExecutionContext
    from tilebox.workflows.automations import CronTask, StorageEventTask

    class Nightly(CronTask):
        label: str

        @staticmethod
        def identifier():
            return "peer/Nightly", "v1.0"

        def execute(self, context: ExecutionContext) -> None:
            EXECUTED.append(("cron", self.label, self.trigger.time))

    class OnDrop(StorageEventTask):
        label: str

        @staticmethod
        def identifier():
            return "peer/OnDrop", "v1.0"

        def execute(self, context: ExecutionContext) -> None:
            EXECUTED.append(("storage", self.label, self.trigger.location, self.trigger.storage.id))

    return Nightly, OnDrop


@pytest.mark.parametrize("transport", ["grpc", "http1"])
def test_storage_locations_and_automations(server_url, transport, tmp_path):
    from tilebox.workflows import Client
    from tilebox.workflows.data import LocalReference

    client = Client(url=server_url, token="local-dummy-token", transport=transport)

    Nightly, OnDrop = _tasks()
    location = client.storage_locations().create("drops", LocalReference(path=str(tmp_path)))
    assert location.location == str(tmp_path)
    assert location.id in [l.id for l in client.storage_locations().all()]
    assert client.storage_locations().find(location.id).location == str(tmp_path)
    renamed = client.storage_locations().update(location.id, "renamed drops")
    assert renamed.name == "renamed drops"

    automations = client.automations()
    cron = automations.create_cron_automation("nightly", Nightly(label="n"), "CRON_TZ=Europe/Berlin 0 3 * * *")
    drop = automations.create_storage_event_automation("on drop", OnDrop(label="d"), (location, "*.csv"))
    ids = {a.id for a in automations.all()}
    assert {cron.id, drop.id} <= ids
    found = automations.find(drop.id)
    assert found.storage_event_triggers[0].glob_pattern == "*.csv"
    assert found.storage_event_triggers[0].storage_location.id == location.id
    assert automations.find(cron.id).cron_triggers[0].schedule == "CRON_TZ=Europe/Berlin 0 3 * * *"

    with pytest.raises(Exception, match="schedule"):
        automations.create_cron_automation("bad", Nightly(label="x"), "not a cron")

    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    (tmp_path / "ignored.txt").write_text("no")
    EXECUTED.clear()
    runner = client.runner(tasks=[OnDrop])
    deadline = time.monotonic() + 30
    while not EXECUTED and time.monotonic() < deadline:
        runner.run_all()
        time.sleep(0.1)
    assert EXECUTED == [("storage", "d", "data.csv", location.id)]

    automations.delete(cron)
    automations.delete(drop.id, cancel_jobs=True)
    remaining = {a.id for a in automations.all()}
    assert cron.id not in remaining and drop.id not in remaining


def _interop_tasks():
    """`peer/Tick` and `peer/OnDrop` as the Rust `workflows_peer` binary defines them (`Cron<Tick>`,
    `OnStorageEvent<OnDrop>`); two fields, so the arguments are a JSON object on both sides."""
    from tilebox.workflows import ExecutionContext
    from tilebox.workflows.automations import CronTask, StorageEventTask

    class Tick(CronTask):
        label: str
        n: int

        @staticmethod
        def identifier():
            return "peer/Tick", "v1.0"

        def execute(self, context: ExecutionContext) -> None:
            raise AssertionError("run by the Rust runner")

    class OnDrop(StorageEventTask):
        label: str
        n: int

        @staticmethod
        def identifier():
            return "peer/OnDrop", "v1.0"

        def execute(self, context: ExecutionContext) -> None:
            raise AssertionError("run by the Rust runner")

    return Tick, OnDrop


@pytest.mark.parametrize("transport", ["grpc", "http1"])
def test_python_automations_run_rust_tasks(server_url, peer, transport, tmp_path):
    """Cron and storage-event automations created with the official client submit jobs whose tasks a Rust runner
    executes (`Cron<Tick>` / `OnStorageEvent<OnDrop>` with the same identifiers), receiving the automation's
    arguments and its trigger: the scheduled time, or the event type, object path and location."""
    import subprocess
    from datetime import datetime, timezone

    from tilebox.workflows import Client
    from tilebox.workflows.data import LocalReference

    client = Client(url=server_url, token="local-dummy-token", transport=transport)
    Tick, OnDrop = _interop_tasks()
    automations = client.automations()

    cron = automations.create_cron_automation(f"tick {transport}", Tick(label=f"t-{transport}", n=7), "* * * * * *")
    out = subprocess.run([str(peer), "automation", server_url, str(cron.id), "2"], check=True,
                         capture_output=True, text=True, timeout=120)
    automations.delete(cron.id, cancel_jobs=True)
    fired = [line.split() for line in out.stdout.splitlines() if line.startswith("rust cron")]
    assert [line[2:4] for line in fired] == [[f"t-{transport}", "7"]] * 2, out.stdout
    times = [float(line[5]) for line in fired]
    assert all(t == int(t) for t in times), times  # on whole seconds, as scheduled
    assert times[0] < times[1]
    now = datetime.now(timezone.utc).timestamp()
    assert all(now - 120 < t <= now for t in times), (times, now)

    location = client.storage_locations().create(f"rust drops {transport}", LocalReference(path=str(tmp_path)))
    drop = automations.create_storage_event_automation(f"on drop {transport}", OnDrop(label=f"d-{transport}", n=3),
                                                       (location, "*.csv"))
    (tmp_path / "ignored.txt").write_text("no")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    out = subprocess.run([str(peer), "automation", server_url, str(drop.id), "1"], check=True,
                         capture_output=True, text=True, timeout=120)
    assert f"rust storage d-{transport} 3 Created data.csv {location.id}" in out.stdout.splitlines(), out.stdout
    automations.delete(drop.id, cancel_jobs=True)
    assert {cron.id, drop.id}.isdisjoint(a.id for a in automations.all())
