"""Uploads read and stored off the event loop: small files in a thread, large ones in a separate process.

A large file is parsed, validated and written to the store by a short-lived worker process, so that
neither its CPU time nor its memory (a 100 MB CSV is gigabytes as Python objects) reaches the
process that answers requests; only the job id, or the problems found, come back.
"""
from __future__ import annotations

import asyncio
import multiprocessing
import os
import shutil
import tempfile
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import BinaryIO

from ragmeter.metrics import GateConfig

from ragmeter.service.limits import Budget
from ragmeter.service.settings import Settings
from ragmeter.service.server.batches.store import AsyncStore, Store
from ragmeter.service.eval_sets import BadUpload, read_upload

MB = 1024 * 1024
WORKER_STOP_S = 5.0  # a worker given SIGTERM that has not exited by then is killed


class IngestFailed(Exception):
    """The worker process died before it said how the upload went."""


@dataclass
class Spec:
    """What to read the file as and what job to make of it."""

    filename: str
    metrics: list[str]
    gate: GateConfig
    tenant: str | None = None
    fmt: str | None = None
    mapping: dict[str, str] | None = None
    separator: str | None = None
    needs_contexts: bool = True
    max_rows: int | None = None  # more rows than this: nothing is stored (a quota would be exceeded)
    budget: Budget | None = None  # the most characters a row may hold (default RAGMETER_MAX_SAMPLE_CHARS)


@dataclass
class Outcome:
    job_id: str | None = None
    rows: int = 0
    problems: list[dict] = field(default_factory=list)  # the file was refused: each problem with its row
    refused: bool = False  # more than max_rows rows: nothing stored


def ingest(store: Store, data: bytes, spec: Spec, settings: Settings) -> Outcome:
    """Read, validate and store the file as a queued job; CPU-bound, so never on the event loop."""
    try:
        samples = read_upload(data, spec.filename, fmt=spec.fmt, mapping=spec.mapping, separator=spec.separator,
                              needs_contexts=spec.needs_contexts, settings=settings, budget=spec.budget)
    except BadUpload as exc:
        return Outcome(problems=[p.model_dump(exclude_none=True) for p in exc.problems])
    if spec.max_rows is not None and len(samples) > spec.max_rows:
        return Outcome(rows=len(samples), refused=True)
    job = store.create_job(spec.filename, samples, spec.metrics, spec.gate, spec.tenant)
    return Outcome(job_id=job.id, rows=len(samples))


def _ingest_in_worker(path: str, spec: Spec, settings: Settings) -> Outcome:
    store = Store(settings.db)
    try:
        with open(path, "rb") as file:
            return ingest(store, file.read(), spec, settings)
    finally:
        store.close()


def _whole(file: BinaryIO) -> bytes:
    file.seek(0)
    return file.read()


def _spill(source: BinaryIO) -> str:
    """Copy the spooled upload to a named file a worker process can open."""
    source.seek(0)
    with tempfile.NamedTemporaryFile(prefix="ragmeter-upload-", delete=False) as target:
        shutil.copyfileobj(source, target, 1024 * 1024)
    return target.name


def shared_db(url: str) -> bool:
    """Whether another process sees the same database (an in-memory SQLite one it does not)."""
    return not (url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url)


class Ingestor:
    """Runs `ingest` for uploads: in a worker thread below RAGMETER_UPLOAD_PROCESS_MB, in a worker process above."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, store: AsyncStore, file: BinaryIO, size: int, spec: Spec) -> Outcome:
        """Store the uploaded file (already spooled, at most the upload limit) as a job, or say why not."""
        settings = self.settings
        if size < settings.upload_process_mb * MB or not shared_db(settings.db):
            return await asyncio.to_thread(lambda: ingest(store.sync, _whole(file), spec, settings))
        path = await asyncio.to_thread(_spill, file)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._workers(), _ingest_in_worker, path, spec,
                                                                    settings)
        except BrokenProcessPool as exc:  # the worker died (out of memory, killed): a fresh pool next time
            self._pool = None
            raise IngestFailed("the process reading the upload died (out of memory?); nothing was stored") from exc
        finally:
            os.unlink(path)

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # Spawned (not forked from a threaded server) and used once each, so that their memory is given back.
            self._pool = ProcessPoolExecutor(self.settings.upload_workers,
                                             mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1)
        return self._pool

    def close(self) -> None:
        """Stop the worker processes now, an idle one or one mid-upload (its job is left `loading`, then swept)."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # shutdown() alone left them running after SIGTERM, reparented to init, and with them the resource tracker
        # (it waits for every holder of its pipe). The executor has no public way to stop a busy worker.
        workers = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for worker in workers:
            worker.terminate()
        for worker in workers:
            worker.join(WORKER_STOP_S)
            if worker.is_alive():
                worker.kill()
                worker.join()
