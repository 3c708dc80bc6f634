"""Deleting jobs: one on request (API, CLI), and every finished job older than RAGMETER_RETENTION_DAYS.

Each deletion is written to the `ragmeter.audit` log: which job, whose (tenant), how many rows, and why.
Only finished jobs (done, failed, cancelled) are ever deleted; a queued or running one must be cancelled first.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from ragmeter.service.server.batches.store import Job, Store, now
from ragmeter.service.server.sweeps import repeat, run_once

audit = logging.getLogger("ragmeter.audit")
log = logging.getLogger("ragmeter.batches")
SWEEP_EVERY_S = 3600.0


@dataclass
class Deletion:
    """What became of one deletion request."""

    job_id: str
    rows: int | None  # rows deleted; None: the job was not finished, so nothing was deleted


def delete_job(store: Store, job: Job, by: str) -> Deletion:
    """Delete a finished job with its rows and results, and audit it; `by` says who asked (api, cli, retention)."""
    rows = store.delete_job(job.id)
    if rows is not None:
        audit.info("batch %s deleted by %s: tenant %s, file %r, status %s, %d rows with their results",
                   job.id, by, job.tenant or "(open mode)", job.filename, job.status, rows)
    return Deletion(job.id, rows)


def delete_expired(store: Store, days: float) -> list[Deletion]:
    """Delete every job finished more than `days` days ago."""
    cutoff = now() - timedelta(days=days)
    done = [delete_job(store, job, f"retention (RAGMETER_RETENTION_DAYS={days:g})") for job in store.expired(cutoff)]
    return [d for d in done if d.rows is not None]


async def sweep_once(store: Store, days: float) -> None:
    """`delete_expired` off the event loop; a store hiccup is logged, and the next sweep tries again."""
    await run_once(partial(delete_expired, store, days), log,
                   f"deleting jobs older than RAGMETER_RETENTION_DAYS={days:g} failed")


async def sweep(store: Store, days: float, every_s: float = SWEEP_EVERY_S) -> None:
    """Sweep every `every_s` seconds, until cancelled (the start-up sweep is `sweep_once`)."""
    await repeat(every_s, partial(sweep_once, store, days))
