"""Deleting a job and its data: DELETE ?purge=true, `ragmeter jobs delete`, and RAGMETER_RETENTION_DAYS."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from ragmeter.metrics import GateConfig, Sample
from ragmeter.service.cli import main
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.store import Job, JobStatus, Store, now
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, rows, upload, wait_done

KEYS = {"alpha": "key-alpha-0123456789", "beta": "key-beta-0123456789"}
ALPHA = {"X-API-Key": KEYS["alpha"]}
BETA = {"X-API-Key": KEYS["beta"]}


def _finished(client: TestClient, headers: dict | None = None, n: int = 4) -> str:
    response = client.post("/v1/batches", files={"file": ("set.jsonl", as_file(rows(n), "jsonl"))},
                           data={"metrics": "faithfulness"}, headers=headers)
    assert response.status_code == 202, response.text
    batch_id = response.json()["id"]
    assert wait_done(_Headers(client, headers or {}), batch_id)["status"] == "done"
    return batch_id


class _Headers:
    """A client whose GETs carry one tenant's key (for wait_done)."""

    def __init__(self, client: TestClient, headers: dict):
        self.client, self.headers = client, headers

    def get(self, path: str, **kw):
        return self.client.get(path, headers=self.headers, **kw)


def test_a_finished_job_is_deleted_with_its_rows_and_the_deletion_is_audited(job_store, caplog):
    with TestClient(create_app(Settings(api_keys=KEYS), judge=StubJudge())) as c:
        batch_id = _finished(c, ALPHA)
        assert c.delete(f"/v1/batches/{batch_id}", params={"purge": "true"}, headers=BETA).status_code == 404
        assert c.get(f"/v1/batches/{batch_id}", headers=ALPHA).status_code == 200  # another tenant deletes nothing
        with caplog.at_level(logging.INFO, logger="ragmeter.audit"):
            response = c.delete(f"/v1/batches/{batch_id}", params={"purge": "true"}, headers=ALPHA)
        assert response.status_code == 200, response.text
        assert response.json() == {"id": batch_id, "deleted": True, "rows": 4}
        for suffix in ("", "/results", "/summary"):
            assert c.get(f"/v1/batches/{batch_id}{suffix}", headers=ALPHA).status_code == 404
        assert c.get("/v1/batches", headers=ALPHA).json() == []
        assert c.delete(f"/v1/batches/{batch_id}", params={"purge": "true"}, headers=ALPHA).status_code == 404
    audit = [r.getMessage() for r in caplog.records if r.name == "ragmeter.audit"]
    assert len(audit) == 1 and batch_id in audit[0] and "tenant alpha" in audit[0] and "4 rows" in audit[0]
    store = Store(job_store)
    try:
        assert store.job(batch_id) is None and store.rows(batch_id) == []
    finally:
        store.close()


def test_a_running_job_is_not_deleted_409_and_plain_delete_still_cancels():
    judge = StubJudge(hang_after=1)
    with TestClient(create_app(Settings(batch_concurrency=1), judge=judge)) as c:
        batch_id = upload(c, as_file(rows(5), "jsonl"), "set.jsonl", metrics="faithfulness").json()["id"]
        assert judge.hanging.wait(10)
        refused = c.delete(f"/v1/batches/{batch_id}", params={"purge": "true"})
        assert refused.status_code == 409 and "cancel it first" in refused.json()["detail"]
        assert c.get(f"/v1/batches/{batch_id}").json()["status"] == "running"
        assert c.delete(f"/v1/batches/{batch_id}").json()["status"] == "cancelled"
        deleted = c.delete(f"/v1/batches/{batch_id}", params={"purge": "true"})
        assert deleted.status_code == 200 and deleted.json()["rows"] == 5


def _job(store: Store, finished_days_ago: float | None, status: JobStatus = JobStatus.DONE) -> str:
    sample = Sample(user_input="q?", retrieved_contexts=["c"], response="a")
    job = store.create_job("old.jsonl", [sample, sample], ["faithfulness"], GateConfig())
    with store.session.begin() as s:
        finished = now() - timedelta(days=finished_days_ago) if finished_days_ago is not None else None
        s.execute(update(Job).where(Job.id == job.id).values(status=status, finished_at=finished,
                                                             created_at=finished or now()))
    return job.id


def test_retention_deletes_finished_jobs_older_than_the_setting_at_start_up(job_store, caplog):
    store = Store(job_store)
    old, recent = _job(store, 40), _job(store, 2)
    old_cancelled, queued = _job(store, 31, JobStatus.CANCELLED), _job(store, None, JobStatus.QUEUED)
    store.close()
    with caplog.at_level(logging.INFO, logger="ragmeter.audit"), \
            TestClient(create_app(Settings(retention_days=30), judge=StubJudge())) as c:
        assert c.get(f"/v1/batches/{old}").status_code == 404
        assert c.get(f"/v1/batches/{old_cancelled}").status_code == 404
        assert c.get(f"/v1/batches/{recent}").status_code == 200
        assert c.get(f"/v1/batches/{queued}").status_code == 200  # unfinished jobs are never expired
    audited = " ".join(r.getMessage() for r in caplog.records if r.name == "ragmeter.audit")
    assert old in audited and old_cancelled in audited and "RAGMETER_RETENTION_DAYS=30" in audited
    store = Store(job_store)
    try:
        assert store.rows(old) == [] and len(store.rows(recent)) == 2
    finally:
        store.close()


def test_cli_jobs_delete_and_expire(job_store, capsys):
    store = Store(job_store)
    done, running, old = _job(store, 0), _job(store, None, JobStatus.RUNNING), _job(store, 10)
    store.close()
    assert main(["jobs", "delete", done]) == 0
    assert f"deleted batch {done} (2 rows)" in capsys.readouterr().err
    assert main(["jobs", "delete", running, "no-such-id"]) == 2
    err = capsys.readouterr().err
    assert "is running; cancel it first" in err and "no batch no-such-id" in err
    assert main(["jobs", "expire"]) == 2  # no days given, none configured
    assert main(["jobs", "expire", "--days", "5"]) == 0
    assert "deleted 1 jobs" in capsys.readouterr().err
    store = Store(job_store)
    try:
        assert store.job(done) is None and store.job(old) is None and store.job(running) is not None
    finally:
        store.close()


@pytest.mark.parametrize("purge", [False, True])
def test_the_client_cancels_and_deletes(server, tmp_path, purge):
    from ragmeter.service.client import RagmeterClient, RagmeterError

    (tmp_path / "set.jsonl").write_bytes(as_file(rows(3), "jsonl"))
    with RagmeterClient(server) as client:
        batch = client.upload(tmp_path / "set.jsonl")
        client.wait(batch["id"], poll_s=0.05)
        if purge:
            assert client.delete(batch["id"])["rows"] == 3
            with pytest.raises(RagmeterError, match="404"):
                client.status(batch["id"])
        else:
            assert client.cancel(batch["id"])["status"] == "done"  # a finished job is left as it is

