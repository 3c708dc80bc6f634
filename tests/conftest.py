import os
import socket
import sys
import threading
import time
from contextlib import contextmanager

import pytest
import uvicorn
from ragmeter.service.server.app import create_app
from ragmeter.service.server.slow_clients import uvicorn_options
from ragmeter.service.settings import Settings

from .helpers import StubJudge, make_client
from .scripted_judge import ScriptedJudge


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """Leave with the session's status once pytest has reported it, without tearing the interpreter down.

    A native library (onnxruntime, Ray's core worker or gRPC) crashed once in four full runs while Python
    tore its modules down, after every test had passed and the summary was written: exit status 139 for a
    green suite. No Python thread is left by then (checked), and it did not recur under faulthandler, so the
    outcome is settled and the teardown has nothing left to do but risk that crash.
    """
    status = config.stash.get(EXIT_STATUS, None)
    if status is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


EXIT_STATUS = pytest.StashKey[int]()


@pytest.fixture(autouse=True)
def job_store(tmp_path, monkeypatch):
    """Every test gets its own batch database instead of ./ragmeter.db."""
    url = f"sqlite:///{tmp_path}/jobs.db"
    monkeypatch.setenv("RAGMETER_DB", url)
    return url


@pytest.fixture(scope="session")
def scripted():
    judge = ScriptedJudge().start()
    yield judge
    judge.stop()


@pytest.fixture
def fake(scripted):
    scripted.reset()
    scripted.faults.clear()
    yield scripted
    scripted.faults.clear()


@pytest.fixture
def client(fake):
    with make_client(fake) as c:
        yield c


@contextmanager
def serving(settings: Settings, judge=None):
    """The app on a real loopback port (for browsers and HTTP clients), scoring with a stub judge; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(settings, judge=judge or StubJudge()), log_level="warning",
                            **uvicorn_options(settings))  # as `ragmeter serve` runs it
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        instance.should_exit = True
        thread.join(timeout=5)


@pytest.fixture
def server():
    """The app in open mode on a real loopback port."""
    with serving(Settings()) as url:
        yield url


def unavailable(reason: str):
    """Skip a test whose server cannot be reached, saying why; in CI (RAGMETER_TEST_REQUIRE_SERVERS=1) fail it."""
    if os.environ.get("RAGMETER_TEST_REQUIRE_SERVERS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database of this test's own, dropped afterwards; skips (saying why) without a server."""
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"ragmeter_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as exc:  # no server: nothing to test against
        admin.dispose()
        unavailable(f"no PostgreSQL at 127.0.0.1:5432: {str(exc).splitlines()[0]}")
    yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


# Ray's head and its workers listen on these ports only (the project's port range for this suite).
RAY_PORTS = {"--port": 8460, "--node-manager-port": 8461, "--object-manager-port": 8462,
             "--dashboard-agent-listen-port": 8463, "--dashboard-agent-grpc-port": 8464,
             "--runtime-env-agent-port": 8465, "--metrics-export-port": 8466,
             "--dashboard-port": 8468, "--min-worker-port": 8470, "--max-worker-port": 8499}


@pytest.fixture(scope="session")
def ray_cluster():
    """A local Ray head on this suite's ports, for the session; RAY_ADDRESS points at it while tests run.

    Stopped at the end with every process of its group, and its temp folder (Ray's session files and the
    ray_current_cluster file a later plain ray.init() would follow) removed."""
    from ragmeter.service.ray_head import RayHeadFailed, joined_ray_head

    try:
        with joined_ray_head(RAY_PORTS) as address:  # only starting the head raises RayHeadFailed
            yield address
    except RayHeadFailed as exc:
        unavailable(str(exc))
