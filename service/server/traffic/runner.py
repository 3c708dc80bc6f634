"""Scoring production records in the background: a queue the batch runner serves in its own slots.

The batch runner (batches/runner.py) owns the leases (owner id, lease_s, renewal, release at stop), the scorer
(the judge here, or Ray workers) and the process's scoring slots, which batch jobs and this queue take in turn, so
neither a flood of records nor a huge batch starves the other. This module claims records, scores them, writes
each result once, and then tells the listeners (alerts) which tenant and app have a new score.
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from ragmeter.metrics import GateConfig, Sample, SampleResult

from ragmeter.service.ray_pool import Score
from ragmeter.service.server.batches.runner import BatchRunner, attempt, landed
from ragmeter.service.server.telemetry import Telemetry
from ragmeter.service.server.traffic.store import AsyncRecordStore
from ragmeter.service.server.traffic.tables import Record

log = logging.getLogger("ragmeter.records")
Listener = Callable[[str | None, str], None]
RATE_WINDOW_S = 60.0


class RecordQueue:
    """Pending records, scored by a BatchRunner (`runner.serve(queue)`); `wake` after storing new ones."""

    name = "records"

    def __init__(self, store: AsyncRecordStore, listeners: list[Listener] | None = None,
                 telemetry: Telemetry | None = None):
        self.store = store
        self.listeners = listeners if listeners is not None else []
        self.telemetry = telemetry
        self.discarded = 0  # records scored here whose lease another process had taken meanwhile (paid twice)
        self._finished: collections.deque[float] = collections.deque()  # when this process finished each record
        self._wake = asyncio.Event()
        # Results waiting to be written, and the task writing them: see `_write`.
        self._results: list[tuple[str, SampleResult | None, str | None, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task | None = None

    def wake(self) -> None:
        """New records are stored: look for them now rather than at the next poll."""
        self._wake.set()

    def rate(self) -> float | None:
        """Records this process finished per second over the last minute, or since the first of them when that is
        sooner (at least a second); None before it finished any."""
        moment = time.monotonic()
        self._forget(moment)
        if not self._finished:
            return None
        # Divided by the whole minute, a burst scored for a second looked 60 times slower than it is, and a 429's
        # Retry-After made a backfill wait minutes for a backlog that drained in seconds.
        return len(self._finished) / min(RATE_WINDOW_S, max(1.0, moment - self._finished[0]))

    def _forget(self, moment: float) -> None:
        while self._finished and self._finished[0] < moment - RATE_WINDOW_S:
            self._finished.popleft()

    async def renew(self, owner: str, lease_s: float) -> int:
        return await self.store.renew(owner, lease_s)

    async def release(self, owner: str) -> int:
        return await self.store.release(owner)

    async def run(self, runner: BatchRunner) -> None:
        """Claim and score records in the runner's slots until cancelled; a database error pauses one poll."""
        score = await runner.scorer()
        if score is None:
            log.warning("no judge configured: production records stay pending until one is")
            return

        async def claim() -> Record | None:
            records = await landed(self.store.claim(runner.owner, 1, runner.lease_s))
            return records[0] if records else None

        async def idle(scoring: set[asyncio.Task]) -> bool:
            # Nothing to claim: wait for new records here (wake), one in flight to end, or other replicas' records
            # and lapsed leases (poll).
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({waker, *scoring}, timeout=runner.poll_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waker.cancel()
            self._wake.clear()
            return False

        while True:
            try:
                await runner.lease_loop(claim, lambda record: self._score(runner, score, record), idle)
            except Exception:  # the database may be away for a moment: look again at the next poll
                log.warning("could not claim production records", exc_info=True)
                await asyncio.sleep(runner.poll_s)

    async def _score(self, runner: BatchRunner, score: Score, record: Record) -> None:
        sample = Sample.model_validate(record.sample)
        outcome = await attempt(score, sample, record.metrics, GateConfig.model_validate(record.gate or {}),
                                runner.threshold)
        try:
            if outcome is None:
                log.warning("record %s: its worker died; the record goes back to pending", record.id)
                await self.store.release(runner.owner, record.id)
                return
            await self._finish(runner, record, *outcome)
        except Exception:  # the lease lapses and another claim retries the record
            log.warning("could not write record %s", record.id, exc_info=True)

    async def _write(self, owner: str, record_id: str, result: SampleResult | None, error: str | None) -> bool:
        """Write one result, in one transaction with the others finished meanwhile: a commit is a disk sync on
        SQLite, and requests storing new records wait for the write lock behind every one of them."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._results.append((record_id, result, error, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(owner), name="records-results")
        return await done

    async def _write_all(self, owner: str) -> None:
        while self._results:
            batch, self._results = self._results, []
            try:
                written = await self.store.finish_many([(i, r, e) for i, r, e, _ in batch], owner=owner)
            except Exception as exc:  # each record's scorer logs it; their leases lapse and they are retried
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (*_, done), ok in zip(batch, written, strict=True):
                if not done.done():
                    done.set_result(ok)

    async def _finish(self, runner: BatchRunner, record: Record, result: SampleResult | None,
                      error: str | None) -> None:
        if not await self._write(runner.owner, record.id, result, error):
            self.discarded += 1  # our lease lapsed and another process has (or will write) the record
            return
        moment = time.monotonic()
        self._finished.append(moment)
        self._forget(moment)
        if result is not None and self.telemetry is not None:
            self.telemetry.record(result, "records")
        for listener in list(self.listeners):
            try:
                listener(record.tenant, record.app)
            except Exception:  # a listener's bug must not stop scoring
                log.exception("record listener %r failed", listener)
