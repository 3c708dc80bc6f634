"""Result downloads streamed from the store a page at a time, so a job of any size costs one page of memory.

Small jobs are read and encoded in a thread. A large job is read and encoded by a child process
(`python -m ragmeter.service.server.batches.download`) that writes the file to a pipe: turning hundreds of
thousands of rows into JSON, CSV or Parquet is minutes of CPU, and in a thread of the serving process
it would hold the GIL that the event loop needs to answer /healthz and /v1/evaluate.
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from ragmeter.service.rows import Encoder, flat
from ragmeter.service.settings import Settings
from ragmeter.service.server.batches.ingest import shared_db
from ragmeter.service.server.batches.store import AsyncStore, Row

PAGE_ROWS = 2_000
PIPE_READ = 1024 * 1024
log = logging.getLogger("ragmeter.download")


def read_page(session: Callable[[], Session], job_id: str, start: int, limit: int) -> list[dict]:
    """Rows from index `start` (at most `limit`) as download records, read as plain columns, not ORM objects."""
    query = (select(Row.index, Row.sample, Row.status, Row.result, Row.error)
             .where(Row.job_id == job_id, Row.index >= start).order_by(Row.index).limit(limit))
    with session() as s:
        return [flat(*columns) for columns in s.execute(query)]


def pages(session: Callable[[], Session], job_id: str, fmt: str):
    """The file in parts: an encoder over pages keyed on the row index, so each row comes once, in order."""
    encoder, start = Encoder(fmt), 0
    while True:
        records = read_page(session, job_id, start, PAGE_ROWS)
        if records:
            yield encoder.records(records)
            start = records[-1]["row"]  # `row` is 1-based: the next page starts at the index after it
        if len(records) < PAGE_ROWS:
            break
    yield encoder.close()


class Downloads:
    """Streams results: in a thread below RAGMETER_DOWNLOAD_PROCESS_ROWS rows, else from a child process."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._slots = asyncio.Semaphore(settings.download_workers)

    def stream(self, store: AsyncStore, job_id: str, fmt: str, total: int) -> AsyncIterator[bytes]:
        """The job's rows in input order as one JSONL, CSV or Parquet file, in parts."""
        if total < self.settings.download_process_rows or not shared_db(self.settings.db):
            return _in_thread(store, job_id, fmt)
        return self._in_process(job_id, fmt)

    async def _in_process(self, job_id: str, fmt: str) -> AsyncIterator[bytes]:
        async with self._slots:  # each child holds a page and pandas/pyarrow: a bounded number at a time
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", __name__, job_id, fmt, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE, env={**os.environ, "RAGMETER_DB": self.settings.db})
            assert child.stdout is not None and child.stderr is not None  # both are PIPEs
            try:
                while chunk := await child.stdout.read(PIPE_READ):
                    yield chunk
                if await child.wait() != 0:
                    problem = (await child.stderr.read()).decode(errors="replace").strip().splitlines()
                    # Raising cuts the response short, so the client sees a broken transfer, not a short file.
                    raise RuntimeError(f"the download process failed: {problem[-1] if problem else child.returncode}")
            finally:
                if child.returncode is None:  # the client went away: stop reading the store for it
                    child.kill()
                    await child.wait()


async def _in_thread(store: AsyncStore, job_id: str, fmt: str) -> AsyncIterator[bytes]:
    parts = pages(store.sync.session, job_id, fmt)
    while (part := await asyncio.to_thread(next, parts, None)) is not None:
        yield part


def export(url: str, job_id: str, fmt: str, out: BinaryIO) -> None:
    """Write the job's results file to `out`, page by page (what the child process does)."""
    engine = create_engine(url)
    try:
        for part in pages(sessionmaker(engine), job_id, fmt):
            out.write(part)
            out.flush()
    finally:
        engine.dispose()


if __name__ == "__main__":
    try:
        export(os.environ["RAGMETER_DB"], sys.argv[1], sys.argv[2], sys.stdout.buffer)
    except BrokenPipeError:  # the server stopped reading (client gone); nothing to report
        os._exit(1)
