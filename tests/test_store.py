"""The batch store: jobs and rows as written to SQLite (and PostgreSQL), written once, read back typed."""
from __future__ import annotations

import socket
import uuid

import pytest
from sqlalchemy import create_engine, text

from ragmeter.metrics import GateConfig, Sample, score_sample
from ragmeter.metrics.judgements import JudgeError
from ragmeter.service.server.batches.digest import digest
from ragmeter.service.server.batches.store import AsyncStore, JobStatus, Store
from ragmeter.service.rows import RowStatus, ScoredRow

from .helpers import StubJudge, rows

SAMPLES = [Sample.model_validate(r) for r in rows(4)]
GATE = GateConfig(threshold=0.3)


class TimeoutJudge(StubJudge):
    async def verify(self, sample, parts, need, usage):
        raise JudgeError("verify", "timeout", "no reply in 10s")


@pytest.fixture
def store(job_store):
    s = Store(job_store)
    yield s
    s.close()


async def result_of(sample, judge=None):
    return await score_sample(sample, judge or StubJudge(), ["faithfulness"])


def test_a_new_job_is_queued_with_every_sample_pending(store):
    job = store.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
    stored = store.job(job.id)
    assert (stored.status, stored.filename, stored.total, stored.metrics) == ("queued", "set.csv", 4, ["faithfulness"])
    assert stored.gate_config == GATE
    assert [(r.index, r.status, r.to_sample()) for r in store.rows(job.id)] == \
        [(i, RowStatus.PENDING, s) for i, s in enumerate(SAMPLES)]
    assert store.counts(job.id) == {"pending": 4}


async def test_rows_are_claimed_in_order_limited_and_finished_rows_never_again(store):
    job = store.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
    assert [r.index for r in store.claim(job.id, "a", 2, 30)] == [0, 1]
    assert store.finish_row(job.id, 1, await result_of(SAMPLES[1]), owner="a")
    assert store.finish_row(job.id, 0, None, "RuntimeError: boom", owner="a")
    assert store.release("a") == 0  # finished rows hold no lease
    assert [r.index for r in store.claim(job.id, "b", 10, 30)] == [2, 3]
    assert store.counts(job.id) == {"pending": 2, "scored": 1, "error": 1}


async def test_a_row_is_written_once(store):
    job = store.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
    first = await result_of(SAMPLES[1])
    store.finish_row(job.id, 1, first)
    store.finish_row(job.id, 1, None, "RuntimeError: a late duplicate")
    store.finish_row(job.id, 1, await result_of(SAMPLES[0]))
    store.finish_row(job.id, 2, None, "RuntimeError: first")
    store.finish_row(job.id, 2, await result_of(SAMPLES[2]))
    one, two = store.rows(job.id)[1:3]
    assert (one.status, one.error, one.result) == (RowStatus.SCORED, None, first.model_dump(mode="json"))
    assert (two.status, two.error, two.result) == (RowStatus.ERROR, "RuntimeError: first", None)


async def test_a_result_with_judge_errors_marks_the_row_error_and_keeps_the_result(store):
    job = store.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
    result = await result_of(SAMPLES[0], TimeoutJudge())
    store.finish_row(job.id, 0, result)
    row = store.rows(job.id)[0]
    assert (row.status, row.error) == (RowStatus.ERROR, "verify: timeout: no reply in 10s")
    assert row.result == result.model_dump(mode="json")


async def test_running_records_its_start_and_the_rows_already_finished(store):
    job = store.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
    store.finish_row(job.id, 0, await result_of(SAMPLES[0]))
    store.finish_row(job.id, 3, None, "RuntimeError: boom")
    store.set_status(job.id, JobStatus.RUNNING)
    running = store.job(job.id)
    assert (running.status, running.done_at_start, running.finished_at) == ("running", 2, None)
    assert running.started_at is not None
    store.set_status(job.id, JobStatus.FAILED, "disk full")
    failed = store.job(job.id)
    assert (failed.status, failed.message) == ("failed", "disk full") and failed.finished_at is not None


async def test_scored_rows_are_typed_with_scores_gate_and_pending_rows(store):
    job = store.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
    results = [await result_of(s) for s in SAMPLES[:2]]
    for i, result in enumerate(results):
        store.finish_row(job.id, i, result)
    got = store.scored_rows(job.id)
    assert all(isinstance(r, ScoredRow) for r in got) and [r.row for r in got] == [1, 2, 3, 4]
    for row, result in zip(got, results, strict=False):  # the first two rows were scored
        assert row.status == RowStatus.SCORED and row.id == result.id
        assert row.faithfulness == result.scores.faithfulness
        assert (row.gate_passed, row.hallucination_score, row.unsupported_claims) == \
            (result.gate.passed, result.gate.hallucination_score, result.gate.unsupported_claims)
    assert [r.faithfulness for r in got[:2]] == [0.0, 1.0] and got[0].unsupported_claims == ["Fact 0 is false."]
    assert [(r.status, r.faithfulness, r.gate_passed) for r in got[2:]] == [(RowStatus.PENDING, None, None)] * 2


def test_unfinished_lists_queued_and_running_jobs_only(store):
    ids = [store.create_job(f"{s}.csv", SAMPLES[:1], ["faithfulness"], GATE).id for s in JobStatus]
    for job_id, status in zip(ids, JobStatus, strict=True):
        store.set_status(job_id, status)
    assert [(j.id, j.status) for j in store.unfinished()] == [(ids[0], "queued"), (ids[1], "running")]


async def test_the_async_store_answers_as_the_sync_one(store):
    jobs = AsyncStore(store)
    job = await jobs.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
    assert [r.index for r in await jobs.claim(job.id, "a", 1, 30)] == [0]
    assert await jobs.finish_row(job.id, 0, await result_of(SAMPLES[0]), owner="a")
    await jobs.set_status(job.id, JobStatus.RUNNING)
    assert store.rows(job.id)[0].attempts == 1
    fields = lambda j: (j.id, j.status, j.total, j.metrics, j.gate, j.started_at, j.done_at_start)  # noqa: E731
    assert fields(await jobs.job(job.id)) == fields(store.job(job.id))
    assert [(j.id, j.status, j.done_at_start) for j in await jobs.jobs()] == [(job.id, "running", 1)]
    assert [j.id for j in await jobs.unfinished()] == [j.id for j in store.unfinished()] == [job.id]
    assert await jobs.counts(job.id) == store.counts(job.id) == {"pending": 3, "scored": 1}
    assert [r.index for r in await jobs.claim(job.id, "b", 2, 30)] == [1, 2]
    assert [(r.index, r.lease_owner) for r in store.rows(job.id)] == [(0, None), (1, "b"), (2, "b"), (3, None)]
    assert await jobs.release("b") == 2
    assert await jobs.scored_rows(job.id) == store.scored_rows(job.id)


POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


async def test_postgresql_creates_a_job_and_finishes_a_row():
    pytest.importorskip("psycopg")
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=2).close()
    except OSError:
        pytest.skip("no PostgreSQL on 127.0.0.1:5432")
    schema = f"ragmeter_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        store = Store(f"{POSTGRES}?options=-csearch_path%3D{schema}")
        job = store.create_job("set.csv", SAMPLES, ["faithfulness"], GATE)
        store.finish_row(job.id, 0, await result_of(SAMPLES[0]))
        store.finish_row(job.id, 0, None, "RuntimeError: a late duplicate")
        assert store.counts(job.id) == {"pending": 3, "scored": 1}
        assert store.scored_rows(job.id)[0].faithfulness == 0.0
        statistics = digest(store, job.id)  # scores read with PostgreSQL's JSON operators
        assert statistics.summary.metrics["faithfulness"].n == 1 and statistics.worst[0].row == 1
        store.close()
        with admin.connect() as c:  # the tables went into this test's own schema
            assert c.execute(text(f'SELECT count(*) FROM "{schema}".rows')).scalar() == 4
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
