"""The server while its Ray executor starts: it answers, /readyz says why it is not ready, batches wait, then run.

Ray itself is replaced by a pool the test lets start (or fail) when it chooses; tests/test_ray.py
runs the real one.
"""
from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient
from ragmeter.metrics import score_sample
from ragmeter.service.ray_pool import ClusterUnreachable
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, rows, upload, wait_done

TIMEOUT = 60


class HeldPool:
    """Stands in for RayPool: its start blocks until the test releases it, then succeeds or raises `failure`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = threading.Event()
        self.failure: Exception | None = None
        self.scored: list[str] = []

    def __call__(self, settings: Settings, stop: threading.Event | None = None) -> HeldPool:
        self.entered.set()
        self.release.wait(TIMEOUT)
        if self.failure is not None:
            raise self.failure
        self.rows_in_flight, self.workers = 2, [None]
        return self

    async def score(self, sample, metrics, gate, threshold):
        self.scored.append(str(sample.id))
        return await score_sample(sample, StubJudge(), metrics, gate, threshold)

    def close(self) -> None:
        self.closed.set()


@pytest.fixture
def pool(monkeypatch):
    held = HeldPool()
    monkeypatch.setattr("ragmeter.service.server.batches.executor.RayPool", held)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    yield held
    held.release.set()  # never leave a start thread waiting


def ray_app() -> TestClient:
    return TestClient(create_app(Settings(executor="ray", ray_workers=3), judge=StubJudge()))


def test_the_server_answers_while_ray_starts_and_batches_wait_until_it_is_up(pool):
    with ray_app() as client:
        assert pool.entered.wait(TIMEOUT)
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["ready"] is False
        assert ready.json()["executor"] == {"kind": "ray", "state": "starting",
                                            "reason": "batch executor starting: starting a local Ray and 3 workers",
                                            "background_scoring": True}
        assert ready.json()["reason"] == ready.json()["executor"]["reason"]
        batch = upload(client, as_file(rows(4), "jsonl"), "set.jsonl")
        assert batch.status_code == 202
        assert client.get(f"/v1/batches/{batch.json()['id']}").json()["status"] == "queued"
        assert pool.scored == []

        pool.release.set()
        assert wait_done(client, batch.json()["id"], TIMEOUT)["status"] == "done"
        assert sorted(pool.scored) == [f"r{i}" for i in range(4)]  # scored by the pool, not here
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["executor"] == {"kind": "ray", "state": "ready", "reason": None, "background_scoring": True}
    assert pool.closed.is_set()


def test_a_failed_start_is_reported_by_readyz_and_batches_are_refused(pool, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:8469")
    pool.failure = ClusterUnreachable("no Ray cluster answers at RAY_ADDRESS=127.0.0.1:8469 within 3 s")
    with ray_app() as client:
        assert pool.entered.wait(TIMEOUT)
        starting = client.get("/readyz").json()["executor"]
        assert starting["reason"] == "batch executor starting: joining the Ray cluster at " \
                                     "RAY_ADDRESS=127.0.0.1:8469 and 3 workers"
        pool.release.set()
        assert client.app.state.executor.settled.wait(TIMEOUT)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        reason = ("batch executor failed to start: ClusterUnreachable: no Ray cluster answers at "
                  "RAY_ADDRESS=127.0.0.1:8469 within 3 s")
        assert ready.json()["executor"] == {"kind": "ray", "state": "failed", "reason": reason,
                                            "background_scoring": True}
        assert ready.json()["reason"] == reason
        refused = upload(client, as_file(rows(2), "jsonl"), "set.jsonl")
        assert refused.status_code == 503 and refused.json()["detail"] == reason
        assert client.get("/healthz").status_code == 200


def test_a_service_stopped_while_ray_starts_closes_the_pool_once_it_is_up(pool):
    with ray_app():
        assert pool.entered.wait(TIMEOUT)
    assert not pool.closed.is_set()
    pool.release.set()  # the start finishes after the shutdown: what it started is stopped at once
    assert pool.closed.wait(TIMEOUT)


def test_the_local_executor_is_ready_at_once(monkeypatch):
    with TestClient(create_app(Settings(executor="local"), judge=StubJudge())) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["executor"] == {"kind": "local", "state": "ready", "reason": None, "background_scoring": True}
