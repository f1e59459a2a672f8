"""Starts tilebox-server (with --demo, on an ephemeral loopback port) once per test session.

With TILEBOX_PEER_DATABASE set (e.g. a `postgres://` URL of an empty database) the server keeps its data there
instead of a throw-away SQLite file, so the same suite runs against a PostgreSQL-backed server.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _server_binary() -> Path:
    configured = os.environ.get("TILEBOX_SERVER_BIN")
    if configured:
        return Path(configured)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "tilebox-server"


def _peer_binary() -> Path:
    configured = os.environ.get("TILEBOX_WORKFLOWS_PEER_BIN")
    if configured:
        return Path(configured)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "workflows_peer"


@pytest.fixture
def peer():
    """The Rust side of the workflows interop tests: the `workflows_peer` example binary."""
    binary = _peer_binary()
    if not binary.exists():
        pytest.skip(f"workflows_peer binary not found at {binary}; build it with "
                    "`cargo build -p tilebox-examples --bin workflows_peer` and/or set TILEBOX_WORKFLOWS_PEER_BIN")
    return binary


@pytest.fixture(scope="session")
def server_url():
    binary = _server_binary()
    if not binary.exists():
        pytest.skip(f"tilebox-server binary not found at {binary}; build it with `cargo build -p tilebox-server` "
                    "and/or set TILEBOX_SERVER_BIN")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TILEBOX_SERVER_")}
    args = [str(binary), "--demo", "--listen", "127.0.0.1:0"]
    database = os.environ.get("TILEBOX_PEER_DATABASE")
    if database:
        args += ["--database", database]
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=sys.stderr,
        text=True,
        env=env,
    )
    url = None
    assert proc.stdout is not None
    for line in proc.stdout:  # the server prints its URL once it is listening (after seeding)
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
        if match:
            url = match.group(1)
            break
    if url is None:
        proc.kill()
        pytest.fail(f"tilebox-server exited with {proc.wait()} before printing its URL")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(params=["grpc", "http1"])
def client(request, server_url):
    from tilebox.datasets import Client

    # The local server accepts any token when started without --api-key.
    return Client(url=server_url, token="local-dummy-token", transport=request.param)



_exit_status = 0


def pytest_sessionfinish(session, exitstatus):
    """Stops task processes the official Python runner leaves behind."""
    import multiprocessing

    global _exit_status
    _exit_status = int(exitstatus)
    for child in multiprocessing.active_children():
        child.terminate()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()


def pytest_unconfigure(config):
    """Leaves the interpreter at once once pytest is done and has printed its summary.

    The official clients (tilebox-workflows) install OpenTelemetry exporters that point at the server; once the
    session's server is gone their shutdown hooks retry exports for minutes, so a normal interpreter exit would
    hang after every test has passed. The result is final here, so skip those hooks and keep the exit status.
    """
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
