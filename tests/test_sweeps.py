"""Periodic sweeps: a sweep whose store work fails is logged, and the next sweep runs all the same."""
from __future__ import annotations

import asyncio
import logging

from ragmeter.service.server.sweeps import repeat, run_once

log = logging.getLogger("ragmeter.test-sweeps")


async def test_a_failed_sweep_is_logged_and_the_next_one_runs(caplog):
    calls: list[int] = []

    def work() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise OSError("database away for a moment")
        return len(calls)

    swept = asyncio.Event()

    async def once() -> None:
        if await run_once(work, log, "sweeping failed") == 2:
            swept.set()

    task = asyncio.create_task(repeat(0, once))
    await asyncio.wait_for(swept.wait(), 10)
    task.cancel()
    assert "sweeping failed" in caplog.text and "database away for a moment" in caplog.text
