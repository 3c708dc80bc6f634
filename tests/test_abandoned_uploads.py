"""Uploads left half-stored (`loading`) by a service stopped mid-ingest are failed and their rows deleted."""
from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from ragmeter.metrics import GateConfig, Sample
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.abandoned import fail_abandoned_uploads
from ragmeter.service.server.batches.store import Job, JobStatus, Store, now
from ragmeter.service.settings import Settings
from sqlalchemy import update

from .helpers import StubJudge

SAMPLES = [Sample(user_input=f"Q{i}?", retrieved_contexts=[f"Fact {i}."], response=f"Fact {i}.") for i in range(3)]


def job(store: Store, status: JobStatus, age_s: float) -> str:
    """A job of three rows in `status`, created `age_s` seconds ago."""
    created = store.create_job("set.csv", SAMPLES, ["faithfulness"], GateConfig())
    with store.session.begin() as s:
        s.execute(update(Job).where(Job.id == created.id)
                  .values(status=status, created_at=now() - timedelta(seconds=age_s)))
    return created.id


def test_only_uploads_loading_for_longer_than_the_timeout_are_failed_and_emptied(job_store):
    store = Store(job_store)
    stale, fresh = job(store, JobStatus.LOADING, 7200), job(store, JobStatus.LOADING, 60)
    queued = job(store, JobStatus.QUEUED, 7200)

    assert fail_abandoned_uploads(store, 3600) == [stale]

    failed = store.job(stale)
    assert failed.status == JobStatus.FAILED and "not fully stored" in failed.message
    assert failed.finished_at is not None and store.counts(stale) == {}
    assert store.job(fresh).status == JobStatus.LOADING and store.counts(fresh) == {"pending": 3}
    assert store.job(queued).status == JobStatus.QUEUED and store.counts(queued) == {"pending": 3}
    assert fail_abandoned_uploads(store, 3600) == []  # done once


def test_the_service_fails_an_abandoned_upload_when_it_starts_and_lists_it_with_the_reason(job_store):
    stale = job(Store(job_store), JobStatus.LOADING, 120)
    with TestClient(create_app(Settings(loading_timeout_s=60), judge=StubJudge())) as client:
        listed = {b["id"]: b for b in client.get("/v1/batches").json()}
        assert listed[stale]["status"] == "failed"
        assert "upload the file again" in client.get(f"/v1/batches/{stale}").json()["message"]
