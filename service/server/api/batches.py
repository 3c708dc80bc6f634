"""Batch scoring by upload: /v1/batches."""
from __future__ import annotations

import asyncio
from urllib.parse import quote
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Depends, File, Form, HTTPException, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ragmeter.metrics import DEFAULT_METRICS, METRIC_NAMES, GateConfig, MetricName
from ragmeter.metrics.judges import Judge
from ragmeter.metrics.registry import requiring

from ragmeter.service import json_text
from ragmeter.service import rows as scored_rows
from ragmeter.service.file_names import safe_name
from ragmeter.service.limits import Budget
from ragmeter.service.server.batches import report, retention
from ragmeter.service.server.batches.digest import Digest
from ragmeter.service.server.batches.ingest import MB, IngestFailed, Spec
from ragmeter.service.server.batches.runner import BatchRunner
from ragmeter.service.server.batches.status import BatchStatus, batch_status
from ragmeter.service.server.batches.store import AsyncStore, Job, JobStatus
from ragmeter.service.analysis.summary import Summary
from ragmeter.service.analysis import html as experiment_html
from ragmeter.service.analysis import slices
from ragmeter.service.analysis.slices import Slices
from ragmeter.service.server.quota import PENDING_ROWS, Quota, check_backlog
from ragmeter.service.rows import RowStatus
from ragmeter.service.settings import Settings
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.api.deps import get_judge, get_runner, get_settings, get_started_runner, get_store
from ragmeter.service.server.api.responses import errors

router = APIRouter(prefix="/v1/batches", tags=["batches"])
Store = Annotated[AsyncStore, Depends(get_store)]
Tenant = Annotated[str | None, Depends(get_tenant)]
_METRIC_LIST = TypeAdapter(list[MetricName])
SliceKeys = Annotated[list[str] | None, Query(description="Metadata keys to slice by (repeat, or comma-separated)")]


class BatchSummary(Summary):
    id: str
    status: str
    slices: Slices | None = Field(None, description="Per slice of the metadata keys in `by`, when given.")


def _invalid(field: str, message: str, value: object) -> NoReturn:
    """A 422 in FastAPI's own shape, naming the form field."""
    raise RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}])


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
        _invalid("metrics", f"names no metric; known: {', '.join(METRIC_NAMES)}", field)
    try:
        return _METRIC_LIST.validate_python(names)
    except ValidationError:
        _invalid("metrics", f"unknown metrics in {field!r}; known: {', '.join(METRIC_NAMES)}", field)


def _json_form(name: str, value: str | None) -> dict | None:
    try:
        data = json_text.loads(value) if value else None
    except json_text.BadJSON as exc:
        _invalid(name, f"must be a JSON object: {exc}", value)
    if data is not None and not isinstance(data, dict):
        _invalid(name, f"must be a JSON object, not {type(data).__name__}", value)
    return data


def _mapping(value: str | None) -> dict[str, str] | None:
    mapping = _json_form("mapping", value)
    if mapping and not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        _invalid("mapping", 'must map field names to column names, e.g. {"question": "q"}', value)
    return mapping


def _attachment(filename: str) -> str:
    """A Content-Disposition value any client reads: ASCII fallback plus the UTF-8 name (RFC 6266)."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.post("", status_code=202, responses=errors(400, 401, 413, 429, 503))
async def create_batch(
    request: Request, response: Response, settings: Annotated[Settings, Depends(get_settings)],
    judge: Annotated[Judge, Depends(get_judge)],  # 503 now rather than a failed job later
    store: Store, runner: Annotated[BatchRunner, Depends(get_started_runner)], tenant: Tenant,
    file: Annotated[UploadFile, File(description="CSV, JSONL, JSON (list of records) or Parquet")],
    format: Annotated[Literal["csv", "jsonl", "json", "parquet"] | None, Form()] = None,
    mapping: Annotated[str | None, Form(description='JSON: {"question": "q", "answer": "a", ...}')] = None,
    separator: Annotated[str | None, Form(description="Splits a CSV contexts cell that is not a JSON list")] = None,
    metrics: Annotated[str | None,
                       Form(description="Comma-separated metric names; the default ones when omitted")] = None,
    gate: Annotated[str | None, Form(description="JSON gate settings, as in /v1/evaluate")] = None,
) -> BatchStatus:
    """Upload a file to score in the background; answers 202 with the job and its Location."""
    wanted = _metrics(metrics)
    column_map = _mapping(mapping)
    try:
        gate_config = GateConfig.model_validate(_json_form("gate", gate) or {})
    except ValidationError as exc:
        _invalid("gate", str(exc), gate)
    # The body limit was enforced while the multipart parser spooled the file to disk; this is the file alone.
    size = file.size if file.size is not None else settings.max_upload_mb * MB
    if size > settings.max_upload_mb * MB:
        raise HTTPException(413, f"upload larger than RAGMETER_MAX_UPLOAD_MB={settings.max_upload_mb}")
    quota = request.app.state.quota
    pending = await store.pending_rows(tenant) if tenant is not None and settings.max_pending_rows else 0
    spec = Spec(filename=safe_name(file.filename), metrics=wanted, gate=gate_config, tenant=tenant, fmt=format,
                mapping=column_map, separator=separator, needs_contexts=bool(requiring("retrieved_contexts", wanted)),
                max_rows=_room(quota, settings, tenant, pending), budget=Budget.of(settings, judge))
    try:
        outcome = await request.app.state.ingestor.run(store, file.file, size, spec)
    except IngestFailed as exc:
        raise HTTPException(503, str(exc)) from exc
    if outcome.problems:
        raise HTTPException(400, {"message": "the file was not accepted; nothing was scored",
                                  "problems": outcome.problems})
    if outcome.refused:  # a per-key limit: say which
        quota.samples(tenant, outcome.rows)
        check_backlog(PENDING_ROWS, settings.max_pending_rows, pending, outcome.rows, await _rate(store, tenant))
        raise HTTPException(429, "a per-key limit changed while the file was read; retry", headers={"Retry-After": "1"})
    if tenant is not None:
        quota.samples(tenant, outcome.rows, check=False)  # checked before the job was stored
    runner.start(outcome.job_id)
    response.headers["Location"] = f"/v1/batches/{outcome.job_id}"
    return await _status(store, await _job(store, outcome.job_id, None))


def _room(quota: Quota, settings: Settings, tenant: str | None, pending: int) -> int | None:
    """The most rows this tenant's upload may hold now (daily samples, rows in flight); None: no limit."""
    if tenant is None:
        return None
    limits = [quota.samples_left(tenant), settings.max_pending_rows - pending if settings.max_pending_rows else None]
    return min((max(0, n) for n in limits if n is not None), default=None)


async def _rate(store: AsyncStore, tenant: str | None) -> float:
    """Rows per second the tenant's running batches are scored at now."""
    statuses = [await _status(store, job) for job in await store.jobs(tenant=tenant)
                if job.status == JobStatus.RUNNING]
    return sum(s.rate_per_s or 0.0 for s in statuses)


@router.get("", responses=errors(401, 429))
async def list_batches(store: Store, tenant: Tenant) -> list[BatchStatus]:
    """The most recent batches first (the caller's tenant's only)."""
    return [await _status(store, job) for job in await store.jobs(tenant=tenant)]


@router.get("/{batch_id}", responses=errors(401, 404, 429))
async def get_batch(store: Store, tenant: Tenant, batch_id: str) -> BatchStatus:
    return await _status(store, await _job(store, batch_id, tenant))


class DeletedBatch(BaseModel):
    id: str
    deleted: bool = Field(True, description="The job, its rows and their results are gone.")
    rows: int = Field(description="Rows deleted with their results.")


@router.delete("/{batch_id}", responses=errors(401, 404, 409, 429))
async def cancel_batch(store: Store, tenant: Tenant, runner: Annotated[BatchRunner, Depends(get_runner)],
                       batch_id: str, purge: Annotated[bool, Query(
                           description="Delete the finished job with its rows and results (409 while it is queued "
                                       "or running: cancel it first). Without it, DELETE cancels.")] = False,
                       ) -> BatchStatus | DeletedBatch:
    """Cancel a queued or running batch (rows already scored keep their results); with `purge=true`, delete a finished
    one and all its data."""
    job = await _job(store, batch_id, tenant)
    if purge:
        deletion = await asyncio.to_thread(retention.delete_job, store.sync, job, "api")
        if deletion.rows is None:
            raise HTTPException(409, f"batch {batch_id} is {job.status}; cancel it first (DELETE without purge), "
                                     "then delete it")
        return DeletedBatch(id=batch_id, rows=deletion.rows)
    if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
        await runner.cancel(batch_id)
    return await _status(store, await _job(store, batch_id, tenant))


DOWNLOADS: dict[int | str, dict[str, Any]] = {200: {"description": "The scored rows as a file (JSONL by default).",
                   "content": {media: {"schema": {"type": "string", "format": "binary"}}
                               for media in scored_rows.MEDIA_TYPES.values()}}}


@router.get("/{batch_id}/results", response_class=StreamingResponse, responses={**DOWNLOADS, **errors(401, 404, 429)})
async def batch_results(request: Request, store: Store, tenant: Tenant, batch_id: str,
                        format: Literal["jsonl", "csv", "parquet"] = "jsonl") -> StreamingResponse:
    """Every input row with its scores, gate verdict, unsupported claims and row status, streamed page by page."""
    job = await _job(store, batch_id, tenant)
    stem = safe_name(job.filename).rsplit(".", 1)[0] or "batch"
    return StreamingResponse(request.app.state.downloads.stream(store, batch_id, format, job.total),
                             media_type=scored_rows.MEDIA_TYPES[format],
                             headers={"Content-Disposition": _attachment(f"{stem}.scored.{format}")})


async def _digest(request: Request, store: AsyncStore, job: Job) -> Digest:
    """The job's statistics, computed off the event loop once per change of its rows."""
    finished = sum(n for state, n in (await store.counts(job.id)).items() if state != RowStatus.PENDING)
    return await asyncio.to_thread(request.app.state.digests.get, store.sync, job.id, finished)


@router.get("/{batch_id}/summary", responses=errors(401, 404, 429))
async def batch_summary(request: Request, store: Store, tenant: Tenant, batch_id: str,
                        by: SliceKeys = None) -> BatchSummary:
    """Per metric mean, median, p10 and 95% bootstrap interval; gate pass rate; error count; per slice with `by`."""
    job = await _job(store, batch_id, tenant)
    summary = (await _digest(request, store, job)).summary
    sliced = await asyncio.to_thread(slices.job_slices, store.sync, job.id, keys) if (keys := slices.parse_keys(by)) \
        else None
    return BatchSummary(id=job.id, status=job.status, slices=sliced, **summary.model_dump())


@router.get("/{batch_id}/report", response_class=HTMLResponse, responses=errors(401, 404, 429, page=True))
async def batch_report(request: Request, store: Store, tenant: Tenant, batch_id: str, by: SliceKeys = None,
                       api_key: Annotated[str | None, Query(include_in_schema=False)] = None) -> HTMLResponse:
    """A page for people: histograms, gate pass rate, per-slice tables, the worst rows with their unsupported claims."""
    job = await _job(store, batch_id, tenant)
    digest = await _digest(request, store, job)
    sliced = await asyncio.to_thread(experiment_html.job_section, store.sync, job.id, job.total, slices.parse_keys(by))
    return HTMLResponse(await asyncio.to_thread(report.render, job, digest, api_key, sliced))
