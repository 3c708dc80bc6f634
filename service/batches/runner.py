"""Batch jobs: score a stored job's pending rows in the background, a bounded number at a time.

Each row's result is written as soon as it is scored, so a crash or restart loses at most the
rows in flight; at start-up every queued or running job resumes with its pending rows only.
"""
from __future__ import annotations

import asyncio
import logging

from ragmeter.metrics import GateConfig, score_sample
from ragmeter.metrics.judges import Judge

from ..rows import RowStatus
from ..telemetry import Telemetry
from .store import AsyncStore, JobStatus, Row

log = logging.getLogger("ragmeter.batches")


class BatchRunner:
    def __init__(self, store: AsyncStore, judge: Judge | None, concurrency: int = 8, threshold: float | None = None,
                 telemetry: Telemetry | None = None):
        self.store = store
        self.telemetry = telemetry
        self.judge = judge
        self.concurrency = concurrency
        self.threshold = threshold
        self.tasks: dict[str, asyncio.Task] = {}

    def start(self, job_id: str) -> None:
        if job_id not in self.tasks or self.tasks[job_id].done():
            self.tasks[job_id] = asyncio.create_task(self._run(job_id), name=f"batch-{job_id}")

    async def resume_unfinished(self) -> list[str]:
        """Restart every job a previous process left queued or running."""
        ids = [job.id for job in await self.store.unfinished()]
        for job_id in ids:
            self.start(job_id)
        return ids

    async def cancel(self, job_id: str) -> None:
        pending = (await self.store.counts(job_id)).get(RowStatus.PENDING, 0)
        await self.store.set_status(job_id, JobStatus.CANCELLED,
                                    f"cancelled; {pending} rows were not scored and will not be" if pending else None)
        task = self.tasks.pop(job_id, None)
        if task:
            task.cancel()

    async def stop(self) -> None:
        """Shutdown: stop the workers but leave the jobs running in the store, to resume on restart."""
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()

    async def _run(self, job_id: str) -> None:
        store = self.store
        job = await store.job(job_id)
        if job is None or self.judge is None:
            await store.set_status(job_id, JobStatus.FAILED, "no judge configured")
            return
        await store.set_status(job_id, JobStatus.RUNNING)
        slots = asyncio.Semaphore(self.concurrency)
        try:
            while rows := await store.pending(job_id, self.concurrency * 4):
                await asyncio.gather(*(self._score_row(job_id, row, job.metrics, job.gate_config, slots)
                                       for row in rows))
            await store.set_status(job_id, JobStatus.DONE)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a store failure: the job says why instead of hanging in "running"
            log.exception("batch %s failed", job_id)
            await store.set_status(job_id, JobStatus.FAILED, f"{type(exc).__name__}: {exc}")

    async def _score_row(self, job_id: str, row: Row, metrics: list[str], gate: GateConfig,
                         slots: asyncio.Semaphore) -> None:
        async with slots:
            # While the judge's circuit breaker is open the job pauses rather than fill rows with errors.
            while (wait := self.judge.unavailable_for()) > 0:
                await asyncio.sleep(wait)
            await self.store.mark_started(job_id, row.index)
            try:
                result = await score_sample(row.to_sample(), self.judge, metrics, gate, self.threshold)
            except Exception as exc:  # never lose a row: it ends as an explicit error
                await self.store.finish_row(job_id, row.index, None, f"{type(exc).__name__}: {exc}")
                self._count("error")
                return
            await self.store.finish_row(job_id, row.index, result)
            if self.telemetry is not None:
                self.telemetry.record(result, "batch")
            self._count("error" if result.errors else "scored")

    def _count(self, status: str) -> None:
        if self.telemetry is not None:
            self.telemetry.batch_rows.labels(status).inc()
