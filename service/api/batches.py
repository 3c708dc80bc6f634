"""Batch scoring by upload: /v1/batches."""
from __future__ import annotations

import asyncio
import json
from urllib.parse import quote
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import TypeAdapter, ValidationError

from ragmeter.metrics import DEFAULT_METRICS, METRIC_NAMES, GateConfig, MetricName
from ragmeter.metrics.judges import Judge
from ragmeter.metrics.registry import requiring

from .. import rows as scored_rows
from ..batches import report
from ..batches.runner import BatchRunner
from ..batches.status import BatchStatus, batch_status
from ..batches.store import AsyncStore, Job, JobStatus
from ..batches.summary import summarise
from ..batches.upload import BadUpload, read_upload
from ..experiments import html as experiment_html
from ..experiments import slices
from ..settings import Settings
from ..tenancy import get_tenant
from .deps import get_judge, get_runner, get_settings, get_store

router = APIRouter(prefix="/v1/batches", tags=["batches"])
Store = Annotated[AsyncStore, Depends(get_store)]
Tenant = Annotated[str | None, Depends(get_tenant)]
_METRIC_LIST = TypeAdapter(list[MetricName])
SliceKeys = Annotated[list[str] | None, Query(description="Metadata keys to slice by (repeat, or comma-separated)")]


async def _status(store: AsyncStore, job: Job) -> BatchStatus:
    return batch_status(job, await store.counts(job.id))


async def _job(store: AsyncStore, batch_id: str, tenant: str | None) -> Job:
    job = await store.job(batch_id, tenant)  # another tenant's batch is as absent as a missing one
    if job is None:
        raise HTTPException(404, f"no batch {batch_id}")
    return job


def _metrics(field: str | None) -> list[str]:
    if field is None:
        return list(DEFAULT_METRICS)
    names = [m.strip() for m in field.split(",") if m.strip()]
    if not names:  # "metrics=,,," names nothing: scoring nothing would pass every gate
        raise HTTPException(422, f"metrics names no metric; known: {', '.join(METRIC_NAMES)}")
    try:
        return _METRIC_LIST.validate_python(names)
    except ValidationError as exc:
        raise HTTPException(422, f"unknown metrics in {field!r}; known: {', '.join(METRIC_NAMES)}") from exc


def _json_form(name: str, value: str | None) -> dict | None:
    try:
        data = json.loads(value) if value else None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise HTTPException(422, f"{name} must be a JSON object: {exc}") from exc
    if data is not None and not isinstance(data, dict):
        raise HTTPException(422, f"{name} must be a JSON object, not {type(data).__name__}")
    return data


def _mapping(value: str | None) -> dict[str, str] | None:
    mapping = _json_form("mapping", value)
    if mapping and not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise HTTPException(422, 'mapping must map field names to column names, e.g. {"question": "q"}')
    return mapping


def _attachment(filename: str) -> str:
    """A Content-Disposition value any client reads: ASCII fallback plus the UTF-8 name (RFC 6266)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post("", status_code=202)
async def create_batch(
    request: Request, response: Response, settings: Annotated[Settings, Depends(get_settings)],
    judge: Annotated[Judge, Depends(get_judge)],  # 503 now rather than a failed job later
    store: Store, runner: Annotated[BatchRunner, Depends(get_runner)], tenant: Tenant,
    file: Annotated[UploadFile, File(description="CSV, JSONL, JSON (list of records) or Parquet")],
    format: Annotated[Literal["csv", "jsonl", "json", "parquet"] | None, Form()] = None,
    mapping: Annotated[str | None, Form(description='JSON: {"question": "q", "answer": "a", ...}')] = None,
    separator: Annotated[str | None, Form(description="Splits a CSV contexts cell that is not a JSON list")] = None,
    metrics: Annotated[str | None, Form(description="Comma-separated metric names; the default ones when omitted")] = None,
    gate: Annotated[str | None, Form(description="JSON gate settings, as in /v1/evaluate")] = None,
) -> BatchStatus:
    """Upload a file to score in the background; answers 202 with the job and its Location."""
    wanted = _metrics(metrics)
    column_map = _mapping(mapping)
    try:
        gate_config = GateConfig.model_validate(_json_form("gate", gate) or {})
    except ValidationError as exc:
        raise HTTPException(422, f"gate: {exc}") from exc
    limit = settings.max_upload_mb * 1024 * 1024
    # The multipart parser spooled the file to disk; its size is known before it is read into memory.
    if file.size is not None and file.size > limit:
        raise HTTPException(413, f"upload larger than RAGMETER_MAX_UPLOAD_MB={settings.max_upload_mb}")
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"upload larger than RAGMETER_MAX_UPLOAD_MB={settings.max_upload_mb}")
    try:
        # Parsing a large file is CPU work: off the event loop.
        samples = await asyncio.to_thread(
            read_upload, data, file.filename or "upload", fmt=format, mapping=column_map, separator=separator,
            needs_contexts=bool(requiring("retrieved_contexts", wanted)), settings=settings)
    except BadUpload as exc:
        raise HTTPException(400, {"message": "the file was not accepted; nothing was scored",
                                  "problems": [p.model_dump(exclude_none=True) for p in exc.problems]}) from exc
    if tenant is not None:
        request.app.state.quota.samples(tenant, len(samples))
    job = await store.create_job(file.filename or "upload", samples, wanted, gate_config, tenant)
    runner.start(job.id)
    response.headers["Location"] = f"/v1/batches/{job.id}"
    return await _status(store, job)


@router.get("")
async def list_batches(store: Store, tenant: Tenant) -> list[BatchStatus]:
    """The most recent batches first (the caller's tenant's only)."""
    return [await _status(store, job) for job in await store.jobs(tenant=tenant)]


@router.get("/{batch_id}")
async def get_batch(store: Store, tenant: Tenant, batch_id: str) -> BatchStatus:
    return await _status(store, await _job(store, batch_id, tenant))


@router.delete("/{batch_id}")
async def cancel_batch(store: Store, tenant: Tenant, runner: Annotated[BatchRunner, Depends(get_runner)],
                       batch_id: str) -> BatchStatus:
    """Cancel a queued or running batch; rows already scored keep their results."""
    job = await _job(store, batch_id, tenant)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        await runner.cancel(batch_id)
    return await _status(store, await _job(store, batch_id, tenant))


@router.get("/{batch_id}/results")
async def batch_results(store: Store, tenant: Tenant, batch_id: str,
                        format: Literal["jsonl", "csv", "parquet"] = "jsonl") -> Response:
    """Every input row with its scores, gate verdict, unsupported claims and row status."""
    job = await _job(store, batch_id, tenant)
    rows = await store.scored_rows(batch_id)
    body = await asyncio.to_thread(scored_rows.encode, rows, format)
    stem = job.filename.rsplit(".", 1)[0] or "batch"
    return Response(body, media_type=scored_rows.MEDIA_TYPES[format],
                    headers={"Content-Disposition": _attachment(f"{stem}.scored.{format}")})


@router.get("/{batch_id}/summary")
async def batch_summary(store: Store, tenant: Tenant, batch_id: str, by: SliceKeys = None) -> dict:
    """Per metric mean, median, p10 and 95% bootstrap interval; gate pass rate; error count; per slice with `by`."""
    job = await _job(store, batch_id, tenant)
    rows = await store.scored_rows(batch_id)
    summary = await asyncio.to_thread(summarise, rows)
    out = {"id": job.id, "status": job.status, **summary.model_dump()}
    if keys := slices.parse_keys(by):
        out["slices"] = (await asyncio.to_thread(slices.summarise_slices, rows, keys)).model_dump()
    return out


@router.get("/{batch_id}/report", response_class=HTMLResponse)
async def batch_report(store: Store, tenant: Tenant, batch_id: str, by: SliceKeys = None,
                       api_key: Annotated[str | None, Query(include_in_schema=False)] = None) -> HTMLResponse:
    """A page for people: histograms, gate pass rate, the worst rows with unsupported claims marked."""
    job = await _job(store, batch_id, tenant)
    rows = await store.scored_rows(batch_id)
    return HTMLResponse(await asyncio.to_thread(lambda: report.render(
        job, summarise(rows), rows, api_key, experiment_html.report_section(rows, slices.parse_keys(by)))))
