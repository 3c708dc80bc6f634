"""Batch jobs: score a stored job's pending rows in the background, a bounded number at a time.

Each row's result is written as soon as it is scored, so a crash or restart loses at most the
rows in flight; at start-up every queued or running job resumes with its pending rows only.
"""
from __future__ import annotations

import asyncio
import logging

from metrics import GateConfig, Sample, score_sample
from metrics.judges.base import Judge

from .batch_output import error_text
from .store import CANCELLED, DONE, FAILED, RUNNING, Row, Store

log = logging.getLogger("ragmeter.jobs")


class BatchRunner:
    def __init__(self, store: Store, judge: Judge | None, concurrency: int = 8, threshold: float | None = None):
        self.store = store
        self.judge = judge
        self.concurrency = concurrency
        self.threshold = threshold
        self.tasks: dict[str, asyncio.Task] = {}

    def start(self, job_id: str) -> None:
        if job_id not in self.tasks or self.tasks[job_id].done():
            self.tasks[job_id] = asyncio.create_task(self._run(job_id), name=f"batch-{job_id}")

    def resume_unfinished(self) -> list[str]:
        """Restart every job a previous process left queued or running."""
        ids = [job.id for job in self.store.unfinished()]
        for job_id in ids:
            self.start(job_id)
        return ids

    async def cancel(self, job_id: str) -> None:
        await asyncio.to_thread(self.store.set_status, job_id, CANCELLED)
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
        job = await asyncio.to_thread(store.job, job_id)
        if job is None or self.judge is None:
            await asyncio.to_thread(store.set_status, job_id, FAILED, "no judge configured")
            return
        await asyncio.to_thread(store.set_status, job_id, RUNNING)
        gate = GateConfig.model_validate(job.gate or {})
        slots = asyncio.Semaphore(self.concurrency)
        try:
            while True:
                rows = await asyncio.to_thread(store.pending, job_id, self.concurrency * 4)
                if not rows:
                    break
                await asyncio.gather(*(self._score_row(job_id, row, job.metrics, gate, slots) for row in rows))
            await asyncio.to_thread(store.set_status, job_id, DONE)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a store failure: the job says why instead of hanging in "running"
            log.exception("batch %s failed", job_id)
            await asyncio.to_thread(store.set_status, job_id, FAILED, f"{type(exc).__name__}: {exc}")

    async def _score_row(self, job_id: str, row: Row, metrics: list[str], gate: GateConfig,
                         slots: asyncio.Semaphore) -> None:
        async with slots:
            await asyncio.to_thread(self.store.mark_started, job_id, row.index)
            try:
                result = await score_sample(Sample.model_validate(row.sample), self.judge, metrics, gate,
                                            self.threshold)
            except Exception as exc:  # never lose a row: it ends as an explicit error
                await asyncio.to_thread(self.store.finish_row, job_id, row.index, None,
                                        f"{type(exc).__name__}: {exc}")
                return
            await asyncio.to_thread(self.store.finish_row, job_id, row.index, result.model_dump(mode="json"),
                                    error_text(result))
