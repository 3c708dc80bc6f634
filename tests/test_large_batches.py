"""Large batches: uploads read off the event loop, downloads and statistics a page at a time, per-key row caps."""
from __future__ import annotations

import asyncio
import io
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from ragmeter.metrics import GateConfig, Sample, score_sample
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches import download
from ragmeter.service.server.batches.digest import DigestCache
from ragmeter.service.server.batches.store import Store
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, rows, upload, wait_done

KEYS = {"alpha": "key-alpha-0123456789"}
ALPHA = {"X-API-Key": KEYS["alpha"]}


def test_a_download_of_many_pages_holds_every_row_once_in_order(monkeypatch):
    monkeypatch.setattr(download, "PAGE_ROWS", 3)
    with TestClient(create_app(Settings(), judge=StubJudge())) as client:
        batch = upload(client, as_file(rows(10), "jsonl"), "set.jsonl", metrics="faithfulness").json()
        wait_done(client, batch["id"])
        bodies = {fmt: client.get(f"/v1/batches/{batch['id']}/results", params={"format": fmt})
                  for fmt in ("jsonl", "csv", "parquet")}
    frames = {"jsonl": pd.DataFrame([json.loads(line) for line in bodies["jsonl"].text.splitlines()]),
              "csv": pd.read_csv(io.BytesIO(bodies["csv"].content)),
              "parquet": pd.read_parquet(io.BytesIO(bodies["parquet"].content))}
    for fmt, frame in frames.items():
        assert list(frame["id"]) == [f"r{i}" for i in range(10)], fmt
        assert list(frame["row"]) == list(range(1, 11)), fmt
        assert list(frame["faithfulness"]) == [0.0 if i % 3 == 0 else 1.0 for i in range(10)], fmt
    assert bodies["csv"].text.count("row,id,") == 1  # one header, however many pages
    assert bodies["parquet"].headers["content-type"] == "application/vnd.apache.parquet"
    assert bodies["jsonl"].headers["content-type"] == "application/x-ndjson"


def test_download_records_read_as_plain_columns_match_the_validated_rows(job_store):
    store = Store(job_store)
    samples = [Sample(id=i if i % 2 else f"s{i}", user_input=f"Q{i}?", retrieved_contexts=[f"Fact {i}."],
                      response=f"Fact {i}.", reference="Fact." if i == 1 else None,
                      metadata={"team": "search", "week": i}) for i in range(4)]
    job = store.create_job("set.csv", samples, ["faithfulness"], GateConfig())
    judge = StubJudge()
    for i in (0, 1):
        store.finish_row(job.id, i, asyncio.run(score_sample(samples[i], judge, ["faithfulness", "context_precision"],
                                                                 GateConfig())))
    store.finish_row(job.id, 2, None, error="judge: timeout")  # row 3 stays pending
    records = download.read_page(store.session, job.id, 0, 10)
    assert records == [row.scored_row().model_dump(mode="json") for row in store.rows(job.id)]
    assert [r["status"] for r in records] == ["scored", "scored", "error", "pending"]
    assert records[0]["metadata"] == {"team": "search", "week": 0} and records[0]["useful_contexts"] == [0]


def test_a_large_job_downloaded_through_the_child_process_is_the_same_file():
    bodies = {}
    for how, settings in (("process", Settings(download_process_rows=0)), ("thread", Settings())):
        with TestClient(create_app(settings, judge=StubJudge())) as client:
            batch = upload(client, as_file(rows(7), "jsonl"), "set.jsonl", metrics="faithfulness").json()
            wait_done(client, batch["id"])
            bodies[how] = {fmt: client.get(f"/v1/batches/{batch['id']}/results", params={"format": fmt}).content
                           for fmt in ("jsonl", "csv", "parquet")}
    assert [json.loads(line)["id"] for line in bodies["process"]["jsonl"].splitlines()] == [f"r{i}" for i in range(7)]
    assert bodies["process"]["jsonl"] == bodies["thread"]["jsonl"]
    assert bodies["process"]["csv"] == bodies["thread"]["csv"]
    assert pd.read_parquet(io.BytesIO(bodies["process"]["parquet"])).equals(
        pd.read_parquet(io.BytesIO(bodies["thread"]["parquet"])))


def test_an_empty_page_set_still_downloads_a_readable_file(job_store):
    from ragmeter.service.rows import Encoder, ScoredRow

    for fmt in ("csv", "parquet"):
        encoder = Encoder(fmt)
        body = encoder.close()
        frame = pd.read_csv(io.BytesIO(body)) if fmt == "csv" else pd.read_parquet(io.BytesIO(body))
        assert list(frame.columns) == list(ScoredRow.model_fields) and frame.empty


def test_an_upload_read_by_a_worker_process_is_stored_or_refused_with_each_rows_problem():
    settings = Settings(upload_process_mb=0)  # every upload goes to the worker process
    bad = rows(5)
    bad[3]["answer"] = " "
    with TestClient(create_app(settings, judge=StubJudge())) as client:
        refused = upload(client, as_file(bad, "csv"), "set.csv")
        assert refused.status_code == 400, refused.text
        problem = refused.json()["detail"]["problems"][0]
        assert (problem["row"], problem["line"], problem["field"]) == (4, 5, "answer")
        assert client.get("/v1/batches").json() == []

        accepted = upload(client, as_file(rows(6), "csv"), "set.csv", metrics="faithfulness")
        assert accepted.status_code == 202, accepted.text
        status = wait_done(client, accepted.json()["id"])
    assert (status["status"], status["total"], status["done"]) == ("done", 6, 6)


def test_a_chunked_upload_over_the_limit_is_cut_off_with_413():
    def chunks():  # no Content-Length: the size is only known while reading
        for _ in range(3):
            yield b"x" * (1024 * 1024)

    with TestClient(create_app(Settings(max_upload_mb=1), judge=StubJudge())) as client:
        response = client.post("/v1/batches", content=chunks(),
                               headers={"Content-Type": "multipart/form-data; boundary=zzz"})
    assert response.status_code == 413 and "RAGMETER_MAX_UPLOAD_MB=1" in response.json()["detail"]


def test_a_key_over_its_batch_rows_in_flight_gets_429_and_an_upload_that_can_never_fit_413():
    judge = StubJudge(hang_after=0)  # rows stay in flight
    settings = Settings(api_keys=KEYS, max_pending_rows=10)
    with TestClient(create_app(settings, judge=judge)) as client:
        first = client.post("/v1/batches", files={"file": ("a.jsonl", as_file(rows(8), "jsonl"))}, headers=ALPHA)
        assert first.status_code == 202, first.text
        second = client.post("/v1/batches", files={"file": ("b.jsonl", as_file(rows(3), "jsonl"))}, headers=ALPHA)
        assert second.status_code == 429, second.text
        assert int(second.headers["Retry-After"]) >= 1 and "RAGMETER_MAX_PENDING_ROWS" in second.json()["detail"]
        assert client.post("/v1/batches", files={"file": ("c.jsonl", as_file(rows(2), "jsonl"))},
                           headers=ALPHA).status_code == 202  # 8 + 2 fit
        huge = client.post("/v1/batches", files={"file": ("d.jsonl", as_file(rows(11), "jsonl"))}, headers=ALPHA)
        assert huge.status_code == 413
        assert len(client.get("/v1/batches", headers=ALPHA).json()) == 2  # nothing stored for the refused ones
        client.delete(f"/v1/batches/{first.json()['id']}", headers=ALPHA)
        assert client.post("/v1/batches", files={"file": ("e.jsonl", as_file(rows(3), "jsonl"))},
                           headers=ALPHA).status_code == 202  # a cancelled job's rows no longer count


@pytest.mark.asyncio
async def test_statistics_follow_the_rows_as_they_finish(job_store):
    store = Store(job_store)
    samples = [Sample.model_validate(r) for r in rows(4)]
    job = store.create_job("set.jsonl", samples, ["faithfulness"], GateConfig())
    cache, judge = DigestCache(), StubJudge()
    assert cache.get(store, job.id, 0).summary.metrics["faithfulness"].n == 0
    for i in (0, 1):
        store.finish_row(job.id, i, await score_sample(samples[i], judge, ["faithfulness"]))
    store.finish_row(job.id, 2, None, "JudgeError: timeout")
    digest = cache.get(store, job.id, 3)
    assert digest.summary.metrics["faithfulness"].n == 2 and digest.summary.errors == 1
    assert [r.id for r in digest.worst] == ["r0", "r1"]  # the gate failure first
    assert [r.row for r in digest.errors] == [3]
    assert cache.get(store, job.id, 3) is digest  # nothing changed: not computed again
    store.close()


def test_a_download_process_that_fails_breaks_the_stream_instead_of_ending_it(tmp_path):
    downloads = download.Downloads(Settings(db=f"sqlite:///{tmp_path}/missing/jobs.db", download_process_rows=0))

    async def drain():
        return [part async for part in downloads.stream(None, "some-job", "jsonl", total=10)]

    with pytest.raises(RuntimeError, match="download process failed"):
        asyncio.run(drain())
