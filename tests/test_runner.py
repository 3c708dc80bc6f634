"""The batch runner on its own: scoring a stored job, row errors, cancelling, resuming, no judge."""
from __future__ import annotations

import asyncio

import pytest

from ragmeter.metrics import GateConfig, Sample, score_sample
from ragmeter.service.server.batches.runner import BatchRunner
from ragmeter.service.server.batches.store import AsyncStore, JobStatus, Store
from ragmeter.service.rows import RowStatus

from .helpers import StubJudge, rows

SAMPLES = [Sample.model_validate(r) for r in rows(6)]
TIMEOUT = 20


class FailingJudge(StubJudge):
    """Raises a plain exception (not a JudgeError) for one sample."""

    def __init__(self, bad_id: str):
        super().__init__()
        self.bad_id = bad_id

    async def decompose(self, sample, need, usage):
        if sample.id == self.bad_id:
            raise RuntimeError(f"judge crashed on {sample.id}")
        return await super().decompose(sample, need, usage)


class BlockingJudge(StubJudge):
    """Scores the first `free` samples, then blocks every later one until cancelled."""

    def __init__(self, free: int):
        super().__init__()
        self.free = free
        self.blocked = asyncio.Event()

    async def decompose(self, sample, need, usage):
        if sum(self.calls.values()) >= self.free:
            self.blocked.set()
            await asyncio.Event().wait()
        return await super().decompose(sample, need, usage)


@pytest.fixture
def store(job_store):
    sync = Store(job_store)
    yield AsyncStore(sync)
    sync.close()


async def new_job(store, samples=SAMPLES):
    return await store.create_job("set.jsonl", samples, ["faithfulness"], GateConfig())


async def finish(runner, job_id):
    await asyncio.wait_for(runner.tasks[job_id], TIMEOUT)
    return await runner.store.job(job_id)


async def test_a_job_scores_every_row_and_ends_done(store):
    job = await new_job(store)
    judge = StubJudge()
    runner = BatchRunner(store, judge, concurrency=1)  # 6 rows, 4 per fetch: takes more than one round
    runner.start(job.id)
    done = await finish(runner, job.id)
    assert done.status == JobStatus.DONE and done.finished_at is not None and done.message is None
    got = await store.scored_rows(job.id)
    assert [r.status for r in got] == [RowStatus.SCORED] * 6
    assert [r.faithfulness for r in got] == [0.0 if i % 3 == 0 else 1.0 for i in range(6)]
    assert judge.calls == {s.id: 1 for s in SAMPLES}
    assert [r.attempts for r in store.sync.rows(job.id)] == [1] * 6


async def test_a_row_whose_scoring_raises_ends_error_and_the_rest_are_scored(store):
    job = await new_job(store)
    runner = BatchRunner(store, FailingJudge("r2"))
    runner.start(job.id)
    assert (await finish(runner, job.id)).status == JobStatus.DONE
    got = await store.scored_rows(job.id)
    assert ((got[2].status, got[2].error, got[2].faithfulness)
            == (RowStatus.ERROR, "RuntimeError: judge crashed on r2", None))
    assert [r.status for r in got[:2] + got[3:]] == [RowStatus.SCORED] * 5
    assert await store.counts(job.id) == {"scored": 5, "error": 1}


async def test_cancel_marks_the_job_cancelled_and_stops_scoring(store):
    job = await new_job(store)
    judge = BlockingJudge(free=2)
    runner = BatchRunner(store, judge, concurrency=1)
    runner.start(job.id)
    task = runner.tasks[job.id]
    await asyncio.wait_for(judge.blocked.wait(), TIMEOUT)
    await runner.cancel(job.id)
    await asyncio.wait([task], timeout=TIMEOUT)
    assert task.cancelled() and job.id not in runner.tasks
    cancelled = await store.job(job.id)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.finished_at is not None
    assert await store.counts(job.id) == {"scored": 2, "pending": 4}
    assert await store.unfinished() == []


async def test_resume_restarts_queued_and_running_jobs_with_their_pending_rows_only(store):
    queued, running, finished = [await new_job(store) for _ in range(3)]
    await store.finish_row(running.id, 0, await score_sample(SAMPLES[0], StubJudge(), ["faithfulness"]))
    await store.set_status(running.id, JobStatus.RUNNING)  # a process died here
    await store.set_status(finished.id, JobStatus.DONE)
    judge = StubJudge()
    runner = BatchRunner(store, judge)
    assert sorted(await runner.resume_unfinished()) == sorted([queued.id, running.id])
    assert set(runner.tasks) == {queued.id, running.id}
    for job_id in (queued.id, running.id):
        assert (await finish(runner, job_id)).status == JobStatus.DONE
        assert await store.counts(job_id) == {"scored": 6}
    assert judge.calls["r0"] == 1 and judge.calls["r1"] == 2  # r0 of the running job was already scored
    assert (await store.job(running.id)).done_at_start == 1
    assert await store.counts(finished.id) == {"pending": 6}


async def test_without_a_judge_the_job_fails_and_says_why(store):
    job = await new_job(store)
    runner = BatchRunner(store, None)
    runner.start(job.id)
    failed = await finish(runner, job.id)
    assert (failed.status, failed.message) == (JobStatus.FAILED, "no judge configured")
    assert await store.counts(job.id) == {"pending": 6}
