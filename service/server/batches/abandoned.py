"""Uploads abandoned half-stored: a service stopped while its worker wrote the rows leaves a hidden `loading` job.

Such a job is never listed or scored, but its rows take space. One still `loading` after
RAGMETER_LOADING_TIMEOUT_S is taken as abandoned: marked failed with the reason, its rows deleted.
Going by age rather than by "not mine" keeps this safe with a store shared by several replicas,
one of which may be storing an upload right now.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial

from sqlalchemy import delete, select, update

from ragmeter.service.server.batches.store import Job, JobStatus, Row, Store, now
from ragmeter.service.server.sweeps import repeat, run_once

log = logging.getLogger("ragmeter.batches")
SWEEP_EVERY_S = 600.0


def fail_abandoned_uploads(store: Store, older_than_s: float) -> list[str]:
    """Mark failed the jobs still `loading` after `older_than_s` seconds and delete their rows; their ids."""
    cutoff = now() - timedelta(seconds=older_than_s)
    with store.begin() as s:
        ids = list(s.scalars(select(Job.id).where(Job.status == JobStatus.LOADING, Job.created_at < cutoff)))
        if not ids:
            return []
        message = (f"the upload was not fully stored within {older_than_s:g} s (the service stopped while "
                   "reading it?); nothing of it is kept: upload the file again")
        # Only jobs still loading: one whose upload finished meanwhile is left as it is.
        failed = s.execute(update(Job).where(Job.id.in_(ids), Job.status == JobStatus.LOADING)
                           .values(status=JobStatus.FAILED, finished_at=now(), message=message)
                           .returning(Job.id))
        ids = list(failed.scalars())
        if ids:
            s.execute(delete(Row).where(Row.job_id.in_(ids)))
    for job_id in ids:
        log.warning("batch %s: upload abandoned while loading; marked failed, its rows deleted", job_id)
    return ids


async def sweep_once(store: Store, older_than_s: float) -> None:
    """`fail_abandoned_uploads` off the event loop; a store hiccup is logged, and the next sweep tries again."""
    await run_once(partial(fail_abandoned_uploads, store, older_than_s), log, "sweeping abandoned uploads failed")


async def sweep(store: Store, older_than_s: float, every_s: float = SWEEP_EVERY_S) -> None:
    """Sweep every `every_s` seconds, until cancelled (another replica may have died since the last one)."""
    await repeat(every_s, partial(sweep_once, store, older_than_s))
