import socket
import threading
import time
from contextlib import contextmanager

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


@contextmanager
def serving(settings: Settings):
    """The app on a real loopback port (for browsers and HTTP clients), scoring with a stub judge; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    instance = uvicorn.Server(uvicorn.Config(create_app(settings, judge=StubJudge()), log_level="warning"))
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
