"""Batch jobs: score stored jobs' pending rows in the background, a bounded number at a time, under leases.

Each row is claimed with a lease (this runner's owner id, an expiry it renews while it scores) and its
result written as soon as it is scored, once: a crash loses at most the rows in flight, which another
runner (a restarted process, another replica on the same database) claims again when their leases
lapse. The runner's slots are taken in turn by the jobs that want one, so a small job is not queued
behind a huge one. Rows are scored in this process with the judge, or by another scorer (Ray workers).
Other leased queues (production records, traffic/runner.py) are served by the same runner: its owner id, leases,
renewal, release at stop, scorer and slots, which they take in turn with the batch jobs.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any, Protocol, TypeVar

from ragmeter.metrics import GateConfig, Sample, SampleResult, score_sample
from ragmeter.metrics.judges import Scorer

from ragmeter.service.rows import RowStatus
from ragmeter.service.ray_pool import RowFailed, Score, WorkerLost
from ragmeter.service.server.telemetry import Telemetry
from ragmeter.service.server.batches.status import cancelled_message
from ragmeter.service.server.batches.store import UNFINISHED, AsyncStore, JobStatus, Row

log = logging.getLogger("ragmeter.batches")
T = TypeVar("T")


class LeasedQueue(Protocol):
    """Another kind of leased row the runner scores in its slots: it claims, scores and writes its own rows."""

    name: str

    async def run(self, runner: BatchRunner) -> None:
        """Score the queue's rows until cancelled (through `runner.lease_loop`)."""

    async def renew(self, owner: str, lease_s: float) -> int:
        """Extend the leases `owner` holds on the queue's rows."""

    async def release(self, owner: str) -> int:
        """Give up the leases `owner` holds on the queue's rows."""


async def landed(claiming: Awaitable[T]) -> T:
    """Await a claim; when cancelled meanwhile, first let the claim land, so that `stop` releases what it took."""
    task = asyncio.ensure_future(claiming)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await task
        raise


async def attempt(score: Score, sample: Sample, metrics: list[str], gate: GateConfig,
                  threshold: float | None) -> tuple[SampleResult | None, str | None] | None:
    """Score one row: (result, None), (None, why) when it failed, or None when its Ray worker died (retry it)."""
    try:
        return await score(sample, metrics, gate, threshold), None
    except WorkerLost:
        return None
    except RowFailed as exc:
        return None, str(exc)
    except Exception as exc:  # never lose a row: it ends as an explicit error
        return None, f"{type(exc).__name__}: {exc}"


def owner_id() -> str:
    """Who holds a lease: host, process and a random part (two runners in one process differ)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BatchRunner:
    def __init__(self, store: AsyncStore, judge: Scorer | None, concurrency: int = 8, threshold: float | None = None,
                 telemetry: Telemetry | None = None, *, score: Score | None = None, lease_s: float = 30.0,
                 poll_s: float = 2.0, owner: str | None = None, held: bool = False,
                 citation_pattern: str | None = None):
        """`held`: jobs wait (queued) until `open` says how rows are scored (Ray workers still starting)."""
        self.store = store
        self.telemetry = telemetry
        self.judge = judge
        self.score = score or (partial(self._score_here, judge, citation_pattern=citation_pattern)
                               if judge is not None else None)
        self.concurrency = concurrency
        self.threshold = threshold
        self.lease_s = lease_s
        self.poll_s = poll_s
        self.owner = owner or owner_id()
        self.tasks: dict[str, asyncio.Task] = {}
        self.discarded = 0  # rows scored here whose lease another runner had taken meanwhile (paid twice)
        self._slots: asyncio.Semaphore | None = None
        self._renewer: asyncio.Task | None = None
        self._watcher: asyncio.Task | None = None
        self.queues: dict[str, tuple[LeasedQueue, asyncio.Task]] = {}
        self._open = asyncio.Event()
        if not held:
            self._open.set()

    def open(self, score: Score | None, concurrency: int) -> None:
        """Let held jobs run: rows scored by `score` (None: the judge here), `concurrency` at a time."""
        self.score = score or self.score
        self.concurrency = concurrency
        self._open.set()

    def start(self, job_id: str, resume: bool = False) -> None:
        """Score the job's pending rows (alongside any other runner on the same store)."""
        if job_id not in self.tasks or self.tasks[job_id].done():
            self.tasks[job_id] = asyncio.create_task(self._run(job_id, resume), name=f"batch-{job_id}")
        self._renewing()

    def serve(self, queue: LeasedQueue) -> None:
        """Score another queue's rows too, in this runner's slots, under its owner id and lease renewal."""
        if queue.name not in self.queues or self.queues[queue.name][1].done():
            self.queues[queue.name] = (queue, asyncio.create_task(queue.run(self), name=f"queue-{queue.name}"))
        self._renewing()

    def _renewing(self) -> None:
        if self._renewer is None:
            self._renewer = asyncio.create_task(self._renew(), name="batch-leases")

    async def scorer(self) -> Score | None:
        """How rows are scored, once `open` has said so (Ray workers started); None when there is no judge."""
        await self._open.wait()
        return self.score

    def slots(self) -> asyncio.Semaphore:
        """The process's scoring slots, shared by every job and queue (sized when the first one starts)."""
        self._slots = self._slots or asyncio.Semaphore(self.concurrency)
        return self._slots

    async def lease_loop(self, claim: Callable[[], Awaitable[T | None]], work: Callable[[T], Coroutine[Any, Any, None]],
                         idle: Callable[[set[asyncio.Task]], Awaitable[bool]]) -> None:
        """Claim and score one row per free slot until `idle` (called when nothing was claimed, with the rows in
        flight) says to stop. The semaphore serves waiters first come, first served, so jobs and queues take
        slots in turn however many rows each has."""
        slots = self.slots()
        scoring: set[asyncio.Task] = set()
        try:
            while True:
                await slots.acquire()
                try:
                    claimed = await claim()
                except BaseException:
                    slots.release()
                    raise
                if claimed is not None:
                    task = asyncio.create_task(work(claimed))
                    scoring.add(task)
                    task.add_done_callback(scoring.discard)
                    # A callback, not a finally: a task cancelled before it ever ran must give its slot back too.
                    task.add_done_callback(lambda _: slots.release())
                    continue
                slots.release()
                if await idle(scoring):
                    return
        except asyncio.CancelledError:
            for task in scoring:
                task.cancel()
            raise

    async def resume_unfinished(self) -> list[str]:
        """Restart every job a previous process left queued or running."""
        ids = [job.id for job in await self.store.unfinished()]
        for job_id in ids:
            self.start(job_id, resume=True)
        return ids

    def watch(self) -> None:
        """Look for unfinished jobs every poll_s: uploads to other replicas, rows of a replica that died."""
        if self._watcher is None:
            self._watcher = asyncio.create_task(self._watch(), name="batch-watch")

    async def cancel(self, job_id: str) -> None:
        pending = (await self.store.counts(job_id)).get(RowStatus.PENDING, 0)
        # Stored for readers of the store; the API says it again from the rows pending when it is read.
        await self.store.set_status(job_id, JobStatus.CANCELLED, cancelled_message(pending))
        task = self.tasks.pop(job_id, None)
        if task:
            task.cancel()

    async def stop(self) -> None:
        """Shutdown: stop the workers and give the leases back, so that any runner resumes those rows at once."""
        queues = [queue for queue, _ in self.queues.values()]
        await self.halt()
        await self.store.release(self.owner)
        for queue in queues:
            await queue.release(self.owner)

    async def halt(self) -> None:
        """Stop at once and keep the leases, as a crashed process would (they lapse after lease_s)."""
        background = [t for t in (self._renewer, self._watcher) if t is not None]
        background += [task for _, task in self.queues.values()]
        for task in [*self.tasks.values(), *background]:
            task.cancel()
        await asyncio.gather(*self.tasks.values(), *background, return_exceptions=True)
        self.tasks.clear()
        self.queues.clear()
        self._renewer = self._watcher = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            with contextlib.suppress(Exception):  # the database may be away for a moment: look again later
                for job in await self.store.unfinished():
                    self.start(job.id)

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 3)
            try:
                await self.store.renew(self.owner, self.lease_s)
                for queue, _ in list(self.queues.values()):
                    await queue.renew(self.owner, self.lease_s)
            except Exception:  # a missed renewal is retried; two in a row still leave a third of the lease
                log.warning("could not renew batch row leases", exc_info=True)

    async def _run(self, job_id: str, resume: bool) -> None:
        await self._open.wait()
        store = self.store
        job = await store.job(job_id)
        if job is None:
            return
        score = self.score
        if score is None:
            await store.set_status(job_id, JobStatus.FAILED, "no judge configured")
            return
        if job.status == JobStatus.QUEUED or resume:
            await store.set_status(job_id, JobStatus.RUNNING)
        gate = job.gate_config

        async def claim() -> Row | None:
            rows = await landed(store.claim(job_id, self.owner, 1, self.lease_s))
            return rows[0] if rows else None

        async def idle(scoring: set[asyncio.Task]) -> bool:
            if scoring:
                await asyncio.wait(scoring, return_when=asyncio.FIRST_COMPLETED)
                return False
            if await store.complete(job_id) or (now := await store.job(job_id)) is None \
                    or now.status not in UNFINISHED:
                return True
            # The rows left are leased by another runner: wait until it finishes them or its lease lapses.
            await asyncio.sleep(self.poll_s)
            return False

        try:
            await self.lease_loop(claim, lambda row: self._score_row(score, job_id, row, job.metrics, gate), idle)
        except Exception as exc:  # a store failure: the job says why instead of hanging in "running"
            log.exception("batch %s failed", job_id)
            await store.set_status(job_id, JobStatus.FAILED, f"{type(exc).__name__}: {exc}")

    @staticmethod
    async def _score_here(judge: Scorer, sample: Sample, metrics: list[str], gate: GateConfig,
                          threshold: float | None, citation_pattern: str | None = None) -> SampleResult:
        # While the judge's circuit breaker is open the job pauses rather than fill rows with errors.
        while (wait := judge.unavailable_for()) > 0:
            await asyncio.sleep(wait)
        return await score_sample(sample, judge, metrics, gate, threshold, citation_pattern)

    async def _score_row(self, score: Score, job_id: str, row: Row, metrics: list[str], gate: GateConfig) -> None:
        outcome = await attempt(score, row.to_sample(), metrics, gate, self.threshold)
        if outcome is None:
            log.warning("batch %s row %d: its worker died; the row goes back to pending", job_id, row.index)
            await self.store.release(self.owner, job_id, row.index)
            return
        await self._finish(job_id, row.index, *outcome)

    async def _finish(self, job_id: str, index: int, result: SampleResult | None, error: str | None) -> None:
        if not await self.store.finish_row(job_id, index, result, error, owner=self.owner):
            self.discarded += 1  # our lease lapsed and another runner has (or will write) the row
            return
        if result is not None and self.telemetry is not None:
            self.telemetry.record(result, "batch")
        self._count("error" if error or result is None or result.errors else "scored")

    def _count(self, status: str) -> None:
        if self.telemetry is not None:
            self.telemetry.batch_rows.labels(status).inc()
