"""Rows scored by worker processes on this machine (RAGMETER_EXECUTOR=process), each with its own judge.

The point is the serving process's latency: the embedded judge's text work holds the interpreter lock and its
encoder takes cores, so requests accepted meanwhile wait. A worker runs at a lower OS priority (RAGMETER_PROCESS_NICE)
on one onnxruntime thread and scores one row at a time, so the serving process always gets a core first. A worker
that dies takes its row with it: the row raises WorkerLost, goes back to pending, and the pool is started again.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures.process import BrokenProcessPool

from ragmeter.metrics import GateConfig, Sample, SampleResult

from ragmeter.service.ray_pool import RowFailed, ScoringWorker, WorkerLost
from ragmeter.service.settings import Settings

log = logging.getLogger("ragmeter.batches")
_worker: ScoringWorker | None = None
_loop: asyncio.AbstractEventLoop | None = None


def _orphan_watch(parent: int) -> None:
    # A kill -9 of the service leaves its workers behind (they hold their own end of the task queue): go with it.
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _start_worker(config: dict, calls: int, nice: int, parent: int) -> None:
    global _worker, _loop
    if nice:
        os.nice(nice)
    threading.Thread(target=_orphan_watch, args=(parent,), name="orphan-watch", daemon=True).start()
    _loop = asyncio.new_event_loop()
    _worker = ScoringWorker(config, calls)


def _score(sample: dict, metrics: list[str], gate: dict, threshold: float | None) -> tuple[str, object]:
    assert _worker is not None and _loop is not None
    return _loop.run_until_complete(_worker.score(sample, metrics, gate, threshold))


def _ready() -> int:
    return os.getpid()


class ProcessPool:
    """RAGMETER_PROCESS_WORKERS worker processes; `score` sends a row to the next free one."""

    def __init__(self, settings: Settings):
        """Start the workers and wait until each has built its judge (it loads the encoder: seconds)."""
        self.settings = settings
        self.workers = settings.process_workers
        self.rows_in_flight = self.workers
        self._lock = threading.Lock()
        self._pool = self._open()

    def _open(self) -> concurrent.futures.ProcessPoolExecutor:
        config = self.settings.model_dump(mode="json")
        # spawn, not fork: the service has threads and an event loop that a forked child must not inherit.
        pool = concurrent.futures.ProcessPoolExecutor(
            self.workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(config, self.settings.judge_concurrency, self.settings.process_nice, os.getpid()))
        try:
            for done in [pool.submit(_ready) for _ in range(self.workers)]:
                done.result()
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        return pool

    async def score(self, sample: Sample, metrics: list[str], gate: GateConfig,
                    threshold: float | None) -> SampleResult:
        """Score one row in a worker; WorkerLost when a worker died meanwhile (the pool is started again)."""
        pool = self._pool
        try:
            kind, value = await asyncio.wrap_future(pool.submit(
                _score, sample.model_dump(mode="json"), metrics, gate.model_dump(mode="json"), threshold))
        except BrokenProcessPool as exc:
            await asyncio.to_thread(self._restart, pool)
            raise WorkerLost("a scoring worker process died") from exc
        if kind == "error":
            raise RowFailed(str(value))
        return SampleResult.model_validate(value)

    def _restart(self, broken: concurrent.futures.ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:  # the first row to notice restarts it; the others find the new one
                log.warning("a scoring worker process died: starting the workers again")
                broken.shutdown(wait=False, cancel_futures=True)
                self._pool = self._open()

    def pids(self) -> list[int]:
        """The workers' process ids (for drills that kill one)."""
        return list(getattr(self._pool, "_processes", {}) or {})

    def close(self) -> None:
        """Stop the workers; rows in flight stay leased and go back to pending at the runner's release."""
        self._pool.shutdown(wait=False, cancel_futures=True)
