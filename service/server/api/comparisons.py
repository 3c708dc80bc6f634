"""Comparing two runs: POST /v1/comparisons (two batch ids as JSON, or two scored files as a form) and its page."""
from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.datastructures import UploadFile

from ragmeter.metrics import MetricName, SampleResult

from ragmeter.service.server.batches import store as batch_store
from ragmeter.service.server.batches.store import AsyncStore
from ragmeter.service.analysis import comparison_page, runs
from ragmeter.service.analysis.comparison import Comparison, RunRow, compare_runs
from ragmeter.service.analysis.slices import parse_keys
from ragmeter.service.file_names import safe_name
from ragmeter.service.settings import Settings
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.api.deps import get_settings, get_store
from ragmeter.service.server.api.responses import errors

router = APIRouter(prefix="/v1/comparisons", tags=["comparisons"])
Store = Annotated[AsyncStore, Depends(get_store)]
Tenant = Annotated[str | None, Depends(get_tenant)]


class ComparisonOptions(BaseModel):
    by: list[str] = Field(default_factory=list, description="Metadata keys to compare per slice of.")
    top: int = Field(5, ge=0, le=100, description="Most changed rows shown each way, per metric.")
    min_effect: float = Field(0.0, ge=0, le=1, description="A verdict also needs the mean to move more than this.")
    metrics: list[MetricName] | None = Field(None, description="Metrics to compare; all scored ones when omitted.")


class BatchComparison(ComparisonOptions):
    baseline: str = Field(description="Batch id of the run to compare against.")
    candidate: str = Field(description="Batch id of the new run.")


FORM_FIELDS = {"baseline_file": "the baseline's scored file", "candidate_file": "the candidate's scored file"}
OPENAPI = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": BatchComparison.model_json_schema()},
    "multipart/form-data": {"schema": {"type": "object", "required": list(FORM_FIELDS), "properties": {
        **{name: {"type": "string", "format": "binary", "description": d} for name, d in FORM_FIELDS.items()},
        "by": {"type": "string", "description": "comma-separated metadata keys"}, "top": {"type": "integer"},
        "min_effect": {"type": "number"}}}}}}}


async def _batch(store: AsyncStore, batch_id: str, tenant: str | None) -> tuple[str, list[RunRow]]:
    job = await store.job(batch_id, tenant)  # another tenant's batch is as absent as a missing one
    if job is None:
        raise HTTPException(404, f"no batch {batch_id}")
    return f"{safe_name(job.filename)} ({job.id[:8]})", await asyncio.to_thread(batch_run, store.sync, batch_id)


async def _compare(baseline: tuple[str, list[RunRow]], candidate: tuple[str, list[RunRow]],
                   options: ComparisonOptions) -> Comparison:
    return await asyncio.to_thread(lambda: compare_runs(
        baseline[1], candidate[1], names=(baseline[0], candidate[0]), metrics=options.metrics,
        by=parse_keys(options.by), top=options.top, min_effect=options.min_effect))


async def _from_form(request: Request, settings: Settings) -> tuple[tuple, tuple, ComparisonOptions]:
    form = await request.form()
    limit = settings.max_upload_mb * 1024 * 1024
    sides = []
    for name in FORM_FIELDS:
        upload = form.get(name)
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, f"{name} is missing: send two scored files (baseline_file, candidate_file), "
                                     "or JSON with two batch ids")
        if upload.size is not None and upload.size > limit:
            raise HTTPException(413, f"{name} is larger than RAGMETER_MAX_UPLOAD_MB={settings.max_upload_mb}")
        filename = safe_name(upload.filename, name)
        try:
            run = await asyncio.to_thread(runs.uploaded_run, await upload.read(), filename)
        except (ValueError, OSError) as exc:
            raise HTTPException(400, str(exc)) from exc
        sides.append((filename, run))
    try:
        options = ComparisonOptions.model_validate({k: form[k] for k in ("top", "min_effect") if form.get(k)}
                                                   | {"by": parse_keys([str(form.get("by") or "")])})
    except ValidationError as exc:
        raise HTTPException(422, f"options: {exc}") from exc
    return sides[0], sides[1], options


@router.post("", openapi_extra=OPENAPI, responses={
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "The comparison (JSON), or its page with ?format=html."},
    **errors(400, 401, 404, 413, 429)})
async def create_comparison(request: Request, store: Store, tenant: Tenant,
                            settings: Annotated[Settings, Depends(get_settings)],
                            format: Literal["json", "html"] = "json") -> Comparison:
    """Compare a candidate run with a baseline: per metric and per slice the paired mean difference with its 95%
    interval and verdict, the most changed rows each way with both runs' explanations, unpaired rows counted."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        baseline, candidate, options = await _from_form(request, settings)
    else:
        try:
            body = BatchComparison.model_validate_json(await request.body())
        except ValidationError as exc:
            # The app's 422 handler renders any input (here raw bytes) safely, in FastAPI's shape.
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_context=False)]
            raise RequestValidationError(errors) from exc
        baseline = await _batch(store, body.baseline, tenant)
        candidate = await _batch(store, body.candidate, tenant)
        options = body
    comparison = await _compare(baseline, candidate, options)
    if format == "html":
        return HTMLResponse(comparison_page.render(comparison))  # type: ignore[return-value]
    return comparison


@router.get("/report", response_class=HTMLResponse, responses=errors(401, 404, 429, page=True))
async def comparison_report(store: Store, tenant: Tenant, baseline: str, candidate: str,
                            by: Annotated[list[str] | None, Query()] = None, top: int = Query(5, ge=0, le=100),
                            min_effect: float = Query(0.0, ge=0, le=1)) -> HTMLResponse:
    """The comparison page of two batches: a chart per metric, the per-slice verdicts, the rows behind them."""
    options = ComparisonOptions(by=parse_keys(by), top=top, min_effect=min_effect)
    comparison = await _compare(await _batch(store, baseline, tenant), await _batch(store, candidate, tenant), options)
    return HTMLResponse(comparison_page.render(comparison))


def batch_run(store: batch_store.Store, batch_id: str) -> list[RunRow]:
    """Every row of a stored batch with its result and evidence (pending rows have no scores)."""
    return [RunRow(r.scored_row(), SampleResult.model_validate(r.result) if r.result is not None else None)
            for r in store.rows(batch_id)]
