"""Automations and storage locations with the official Python client (tilebox-workflows 0.66.0) against the
local server: locations are created, listed, found and renamed; cron and storage-event automations are
created, listed, found and deleted; a file written into a local location fires its automation and the
official runner runs the triggered task with the storage event it received."""

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
