"""Result downloads streamed from the store a page at a time, so a job of any size costs one page of memory."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..rows import Encoder
from .store import AsyncStore

PAGE_ROWS = 2_000


async def stream(store: AsyncStore, job_id: str, fmt: str) -> AsyncIterator[bytes]:
    """The job's rows in input order as one JSONL, CSV or Parquet file, in parts; each page read and encoded in a thread."""
    encoder, start, page_rows = Encoder(fmt), 0, PAGE_ROWS
    while True:
        rows = await store.scored_page(job_id, start, page_rows)
        if rows:
            yield await asyncio.to_thread(encoder.page, rows)
            start = rows[-1].row  # `row` is 1-based: the next page starts at the index after it
        if len(rows) < page_rows:
            break
    yield await asyncio.to_thread(encoder.close)
