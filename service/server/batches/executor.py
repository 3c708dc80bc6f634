"""Who scores batch rows: this process with its judge (RAGMETER_EXECUTOR=local), worker processes here (process) or
Ray workers (ray).

Worker processes and Ray start in the background (joining a cluster or starting one can take a while, or fail): the
server answers meanwhile, /readyz says where the start stands, and batch rows wait until it is done.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from typing import Literal

from ragmeter.service.process_pool import ProcessPool
from ragmeter.service.ray_pool import RayPool
from ragmeter.service.server.batches.runner import BatchRunner, Score
from ragmeter.service.settings import Settings

log = logging.getLogger("ragmeter.batches")
State = Literal["starting", "ready", "failed"]


class Executor:
    """The executor of one process and how its start went: `state`, and `reason` while it is not ready."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.kind = settings.executor
        self.score: Score | None = None  # None: the runner scores with the judge in this process
        self.rows = settings.batch_concurrency  # rows in flight at once: enough to keep every worker busy
        self.scoring = settings.background_scoring  # false: never started; other replicas score
        idle = self.kind == "local" or not self.scoring
        self.state: State = "ready" if idle else "starting"
        self.reason: str | None = None if idle else self._starting_reason()
        self.settled = threading.Event()  # set once the start has succeeded or failed
        if idle:
            self.settled.set()
        self._pool: RayPool | ProcessPool | None = None
        self._closing = threading.Event()
        self._lock = threading.Lock()

    def _starting_reason(self) -> str:
        if self.kind == "process":
            return f"batch executor starting: {self.settings.process_workers} worker processes"
        address = os.environ.get("RAY_ADDRESS")
        where = f"joining the Ray cluster at RAY_ADDRESS={address}" if address else "starting a local Ray"
        return f"batch executor starting: {where} and {self.settings.ray_workers} workers"

    def describe(self) -> str:
        """Which executor this is, for the start-up log."""
        if not self.scoring:
            return "none (RAGMETER_BACKGROUND_SCORING=false: the replicas that have it on score batch rows and records)"
        if self.kind == "local":
            return f"local (this process scores batch rows, {self.rows} at a time)"
        return f"{self.kind} ({self._starting_reason().removeprefix('batch executor starting: ')}; in the background)"

    def status(self) -> dict:
        """What /readyz reports about batch scoring."""
        return {"kind": self.kind, "state": self.state, "reason": self.reason, "background_scoring": self.scoring}

    async def start(self) -> bool:
        """Start the workers off the event loop; False, with `reason`, when they could not start."""
        if self.kind == "local" or not self.scoring:
            return True
        done: concurrent.futures.Future[RayPool | ProcessPool] = concurrent.futures.Future()
        # A daemon thread, not the loop's executor: a shutdown during the start must not wait for it.
        threading.Thread(target=self._open_pool, args=(done,), name=f"{self.kind}-start", daemon=True).start()
        try:
            pool = await asyncio.wrap_future(done)
        except Exception as exc:
            self.state, self.reason = "failed", f"batch executor failed to start: {type(exc).__name__}: {exc}"
            log.error("%s; batches stay queued until the service restarts", self.reason)
            return False
        finally:
            self.settled.set()
        self.score, self.rows = pool.score, max(self.settings.batch_concurrency, pool.rows_in_flight)
        self.state, self.reason = "ready", None
        log.info("%s executor ready: %d workers", self.kind, pool.workers if isinstance(pool, ProcessPool)
                 else len(pool.workers))
        return True

    def _open_pool(self, done: concurrent.futures.Future) -> None:
        done.set_running_or_notify_cancel()  # from now on only this thread settles it
        try:
            pool: RayPool | ProcessPool = (ProcessPool(self.settings) if self.kind == "process"
                                           else RayPool(self.settings, stop=self._closing))
        except BaseException as exc:
            done.set_exception(exc)
            return
        with self._lock:
            if self._closing.is_set():  # the service stopped while the workers started
                pool.close()
                done.set_exception(RuntimeError("the service stopped while the workers started"))
                return
            self._pool = pool
        done.set_result(pool)

    def close(self) -> None:
        """Stop the workers (and a Ray started here); a start still under way stops when it ends."""
        with self._lock:
            self._closing.set()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()


async def start_scoring(executor: Executor, runner: BatchRunner) -> None:
    """Start the executor, then let the runner score the batches held meanwhile."""
    if await executor.start():
        runner.open(executor.score, executor.rows)
