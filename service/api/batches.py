"""Batch scoring by upload: /v1/batches."""
from __future__ import annotations

import json
import time
from datetime import UTC
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ValidationError

from metrics import METRIC_NAMES, GateConfig
from metrics.types import NEEDS_CONTEXTS

from .. import batch_output, report
from ..batch_input import BadUpload, read_upload
from ..deps import get_judge, get_settings
from ..settings import Settings
from ..store import ERROR, SCORED, Job

router = APIRouter(prefix="/v1/batches", tags=["batches"])


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


def status_of(request: Request, job: Job) -> BatchStatus:
    counts = request.app.state.store.counts(job.id)
    scored, errors = counts.get(SCORED, 0), counts.get(ERROR, 0)
    done = scored + errors
    rate = eta = None
    if job.started_at is not None and job.status == "running":
        started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)  # SQLite drops it
        elapsed = max(1e-6, time.time() - started.timestamp())
        # Rows finished before a restart count towards done but not towards this run's rate.
        recent = done - (job.done_at_start or 0)
        rate = round(recent / elapsed, 3) if recent > 0 else None
        eta = round((job.total - done) / rate, 1) if rate else None
    base = f"/v1/batches/{job.id}"
    return BatchStatus(id=job.id, status=job.status, filename=job.filename, total=job.total, done=done,
                       scored=scored, errors=errors, rate_per_s=rate, eta_s=eta, message=job.message,
                       created_at=job.created_at.isoformat(),
                       links={"self": base, "results": f"{base}/results", "summary": f"{base}/summary",
                              "report": f"{base}/report"})


def _job(request: Request, batch_id: str) -> Job:
    job = request.app.state.store.job(batch_id)
    if job is None:
        raise HTTPException(404, f"no batch {batch_id}")
    return job


@router.post("", status_code=202)
async def create_batch(
    request: Request, response: Response, settings: Annotated[Settings, Depends(get_settings)],
    file: Annotated[UploadFile, File(description="CSV, JSONL, JSON (list of records) or Parquet")],
    format: Annotated[Literal["csv", "jsonl", "json", "parquet"] | None, Form()] = None,
    mapping: Annotated[str | None, Form(description='JSON: {"question": "q", "answer": "a", ...}')] = None,
    separator: Annotated[str | None, Form(description="Splits a CSV contexts cell that is not a JSON list")] = None,
    metrics: Annotated[str | None, Form(description="Comma-separated metric names; all four by default")] = None,
    gate: Annotated[str | None, Form(description="JSON gate settings, as in /v1/evaluate")] = None,
) -> BatchStatus:
    """Upload a file to score in the background; answers 202 with the job and its Location."""
    get_judge(request)  # 503 now rather than a failed job later
    wanted = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else list(METRIC_NAMES)
    unknown = [m for m in wanted if m not in METRIC_NAMES]
    if unknown:
        raise HTTPException(422, f"unknown metrics: {', '.join(unknown)}; known: {', '.join(METRIC_NAMES)}")
    try:
        column_map = json.loads(mapping) if mapping else None
        gate_config = GateConfig.model_validate(json.loads(gate)) if gate else GateConfig()
    except (json.JSONDecodeError, ValidationError) as exc:
        raise HTTPException(422, f"mapping and gate must be JSON objects: {exc}") from exc
    data = await file.read()
    if len(data) > settings.max_upload_mb * 1024 * 1024:
        raise HTTPException(413, f"upload larger than RAGMETER_MAX_UPLOAD_MB={settings.max_upload_mb}")
    try:
        records = read_upload(data, file.filename or "upload", fmt=format, mapping=column_map,
                              separator=separator, needs_contexts=bool(set(wanted) & NEEDS_CONTEXTS))
    except BadUpload as exc:
        raise HTTPException(400, {"message": "the file was not accepted; nothing was scored",
                                  "problems": [p.model_dump(exclude_none=True) for p in exc.problems]}) from exc
    store = request.app.state.store
    job = store.create_job(file.filename or "upload", records, wanted, gate_config.model_dump(mode="json"))
    request.app.state.runner.start(job.id)
    response.headers["Location"] = f"/v1/batches/{job.id}"
    return status_of(request, job)


@router.get("")
async def list_batches(request: Request) -> list[BatchStatus]:
    """The most recent batches first."""
    return [status_of(request, job) for job in request.app.state.store.jobs()]


@router.get("/{batch_id}")
async def get_batch(request: Request, batch_id: str) -> BatchStatus:
    return status_of(request, _job(request, batch_id))


@router.delete("/{batch_id}")
async def cancel_batch(request: Request, batch_id: str) -> BatchStatus:
    """Cancel a queued or running batch; rows already scored keep their results."""
    job = _job(request, batch_id)
    if job.status in ("queued", "running"):
        await request.app.state.runner.cancel(batch_id)
    return status_of(request, _job(request, batch_id))


@router.get("/{batch_id}/results")
async def batch_results(request: Request, batch_id: str,
                        format: Literal["jsonl", "csv", "parquet"] = "jsonl") -> Response:
    """Every input row with its scores, gate verdict, unsupported claims and row status."""
    job = _job(request, batch_id)
    records = batch_output.result_records(request.app.state.store.rows(batch_id))
    stem = job.filename.rsplit(".", 1)[0] or "batch"
    return Response(batch_output.encode(records, format), media_type=batch_output.MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{stem}.scored.{format}"'})


@router.get("/{batch_id}/summary")
async def batch_summary(request: Request, batch_id: str) -> dict:
    """Per metric mean, median, p10 and 95% bootstrap interval; gate pass rate; error count."""
    job = _job(request, batch_id)
    return {"id": job.id, "status": job.status,
            **batch_output.summary(request.app.state.store.rows(batch_id))}


@router.get("/{batch_id}/report", response_class=HTMLResponse)
async def batch_report(request: Request, batch_id: str) -> HTMLResponse:
    """A page for people: histograms, gate pass rate, the worst rows with unsupported claims marked."""
    job = _job(request, batch_id)
    rows = request.app.state.store.rows(batch_id)
    return HTMLResponse(report.render(job, batch_output.summary(rows), batch_output.result_records(rows)))
