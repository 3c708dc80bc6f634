"""What a batch's status says: its progress, this run's rate and time left, and where its outputs are."""
from __future__ import annotations

import time
from datetime import UTC

from pydantic import BaseModel

from ragmeter.service.file_names import safe_name
from ragmeter.service.rows import RowStatus
from ragmeter.service.server.batches.store import Job, JobStatus


class BatchStatus(BaseModel):
    id: str
    status: str
    filename: str
    total: int
    done: int
    scored: int
    errors: int
    rate_per_s: float | None = None
    eta_s: float | None = None
    message: str | None = None
    created_at: str
    links: dict[str, str]


def cancelled_message(pending: int) -> str:
    """What a cancelled job says, from its rows now: rows in flight at the cancel may still finish after it."""
    if pending:
        return f"cancelled; {pending} rows were not scored and will not be"
    return "cancelled; every row had been scored or finished scoring"


def batch_status(job: Job, counts: dict[str, int], now: float | None = None) -> BatchStatus:
    """The status of a job given its row counts by state."""
    scored, errors = counts.get(RowStatus.SCORED, 0), counts.get(RowStatus.ERROR, 0)
    done = scored + errors
    rate = eta = None
    if job.started_at is not None and job.status == JobStatus.RUNNING:
        started = _utc(job.started_at)
        elapsed = max(1e-6, (now or time.time()) - started.timestamp())
        # Rows finished before a restart count towards done but not towards this run's rate.
        recent = done - (job.done_at_start or 0)
        rate = round(recent / elapsed, 3) if recent > 0 else None
        eta = round((job.total - done) / rate, 1) if rate else None
    base = f"/v1/batches/{job.id}"
    return BatchStatus(id=job.id, status=job.status, filename=safe_name(job.filename), total=job.total, done=done,
                       scored=scored, errors=errors, rate_per_s=rate, eta_s=eta,
                       message=cancelled_message(counts.get(RowStatus.PENDING, 0))
                       if job.status == JobStatus.CANCELLED else job.message,
                       created_at=_utc(job.created_at).isoformat(),
                       links={"self": base, "results": f"{base}/results", "summary": f"{base}/summary",
                              "report": f"{base}/report"})


def _utc(moment):
    """SQLite gives timestamps back without their zone; they were written in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
