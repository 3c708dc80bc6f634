"""Periodic sweeps (abandoned uploads, expired jobs, expired records): blocking store work run off the event loop,
at start-up and then every so often, where a failure is logged and the next sweep simply tries again."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def run_once(work: Callable[[], T], log: logging.Logger, failure: str) -> T | None:
    """`work()` in a worker thread; None when it failed (logged as `failure`, with the traceback)."""
    try:
        return await asyncio.to_thread(work)
    except Exception:  # the database may be away for a moment: the next sweep tries again
        log.exception("%s", failure)
        return None


async def repeat(every_s: float, once: Callable[[], Awaitable[object]]) -> None:
    """Await `once()` every `every_s` seconds until cancelled (the caller runs the start-up sweep itself)."""
    while True:
        await asyncio.sleep(every_s)
        await once()
