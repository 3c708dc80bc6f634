import os
import socket
import threading
import time

import pytest
import uvicorn
from ragmeter.service.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge, make_client
from .scripted_judge import ScriptedJudge


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


@pytest.fixture
def server():
    """The app on a real loopback port (for browsers and the HTTP client), scoring with a stub judge."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    instance = uvicorn.Server(uvicorn.Config(create_app(Settings(), judge=StubJudge()), log_level="warning"))
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not instance.started:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    instance.should_exit = True
    thread.join(timeout=5)


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
