"""POST /v1/records: production answers stored at once and scored in the background; GET them back with results."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field

from ragmeter.metrics import GateConfig, MetricName, Sample, SampleResult

from ragmeter.service.rows import RowStatus
from ragmeter.service.server.api.json_body import JSONTextRoute
from ragmeter.service.server.api.responses import errors
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.traffic.ingest import Accepted, AppName, RecordIn, accept
from ragmeter.service.server.traffic.store import AsyncRecordStore
from ragmeter.service.server.traffic.tables import WATCHED, Record

router = APIRouter(prefix="/v1/records", tags=["records"], dependencies=[Depends(get_tenant)],
                   route_class=JSONTextRoute)
Tenant = Annotated[str | None, Depends(get_tenant)]
Status = RowStatus


def get_record_store(request: Request) -> AsyncRecordStore:
    return request.app.state.record_store


Store = Annotated[AsyncRecordStore, Depends(get_record_store)]


class RecordsRequest(BaseModel):
    records: list[RecordIn] = Field(min_length=1, description="Production answers: question / contexts / answer, "
                                                              "with optional id, timestamp, trace_id, app, metadata.")
    app: AppName | None = Field(default=None, description="The app of records that name none; \"default\" when "
                                                          "omitted.")
    metrics: list[MetricName] | None = Field(default=None, min_length=1,
                                             description="Metrics to compute; the four Ragas metrics when omitted.")
    gate: GateConfig | None = Field(default=None, description="Hallucination threshold and per-metric minimums.")

    model_config = {"json_schema_extra": {"examples": [{
        "app": "support-bot",
        "records": [{
            "id": "answer-8812",
            "user_input": "When was the Eiffel Tower completed?",
            "retrieved_contexts": ["The Eiffel Tower was completed in March 1889 for the World's Fair."],
            "response": "It was completed in 1889.",
            "timestamp": "2026-01-05T10:15:00Z",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "metadata": {"model": "gpt-4o-mini", "prompt_version": "v7"},
        }],
    }]}}


class RecordOut(BaseModel):
    """One stored record: what was sent, and its result once scored."""

    id: str
    app: str
    status: Status
    timestamp: datetime = Field(description="When the app answered (else when it was received).")
    received_at: datetime
    scored_at: datetime | None
    trace_id: str | None
    attempts: int = Field(description="Times a process picked it up to score; more than one only after a crash.")
    sample: Sample
    metrics: list[str]
    result: SampleResult | None = Field(description="Scores, gate verdict and evidence, as /v1/evaluate answers; "
                                                    "null while pending.")
    error: str | None


class RecordBrief(BaseModel):
    """A record in a list: its scores and gate verdict without the evidence."""

    id: str
    app: str
    status: Status
    timestamp: datetime
    trace_id: str | None
    sample_id: str | int | None = Field(description="The caller's own id of the record.")
    scores: dict[str, float | None] = Field(description="The four Ragas metrics (null while pending or not "
                                                        "computed).")
    gate_passed: bool | None
    error: str | None


class RecordPage(BaseModel):
    records: list[RecordBrief] = Field(description="Newest first (by timestamp).")
    next_before: str | None = Field(description="Pass as `before` for the next page; null on the last page.")


def _brief(record: Record) -> RecordBrief:
    return RecordBrief(id=record.id, app=record.app, status=_status(record.status), timestamp=_utc(record.ts),
                       trace_id=record.trace_id, sample_id=record.sample.get("id"),
                       scores={name: getattr(record, name) for name in WATCHED}, gate_passed=record.gate_passed,
                       error=record.error)


def _status(value: str) -> RowStatus:
    return RowStatus(value)


def _utc(moment: datetime | None) -> datetime | None:
    """SQLite gives back times without their zone; they were written in UTC."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


@router.post("", status_code=202, response_model=Accepted, responses=errors(401, 413, 429, 503))
async def send_records(request: Request, body: RecordsRequest, tenant: Tenant) -> Accepted:
    """Store production answers and score them in the background: 202 once they are stored (a crash after it
    loses none). A record already sent (same app and `id`) is counted in `duplicates`, not stored again."""
    return await accept(request, tenant, body.records, body.app, metrics=body.metrics, gate=body.gate)


@router.get("/{record_id}", responses=errors(401, 404, 429))
async def get_record(store: Store, tenant: Tenant, record_id: str) -> RecordOut:
    """The record with its result once scored."""
    record = await store.get(record_id, tenant)
    if record is None:
        raise HTTPException(404, f"no record {record_id!r}")
    return RecordOut(id=record.id, app=record.app, status=_status(record.status), timestamp=_utc(record.ts),
                     received_at=_utc(record.received_at), scored_at=_utc(record.scored_at), trace_id=record.trace_id,
                     attempts=record.attempts, sample=Sample.model_validate(record.sample), metrics=record.metrics,
                     result=SampleResult.model_validate(record.result) if record.result is not None else None,
                     error=record.error)


@router.get("", responses=errors(401, 404, 429))
async def list_records(
    store: Store, tenant: Tenant,
    app: Annotated[str | None, Query(max_length=128, description="Only this app's records.")] = None,
    status: Annotated[Status | None, Query(description="Only records in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Records per page.")] = 50,
    before: Annotated[str | None, Query(max_length=36, description="`next_before` of the previous page.")] = None,
    id: Annotated[str | None, Query(max_length=256, description=(
        "Only the record you sent with this `id` (a trace's id, for one sent to /v1/traces), in `app` "
        "(default \"default\")."))] = None,
) -> RecordPage:
    """A page of the caller's records, newest first."""
    after = None
    if before is not None and (after := await store.get(before, tenant)) is None:
        raise HTTPException(404, f"no record {before!r} (the `before` of this page)")
    records = await store.page(tenant, app, status, limit, after, caller_id=id)
    return RecordPage(records=[_brief(r) for r in records],
                      next_before=records[-1].id if len(records) == limit else None)
