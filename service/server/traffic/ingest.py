"""Accepting production records: sampled, bounded, stored durably before the 202, then scored in the background.

/v1/records and /v1/traces both call `accept`. Order of checks: the records' limits (422, nothing stored), sampling,
the tenant's backlog (429), the daily samples quota (429), then one INSERT transaction; its commit comes before
the 202, so a record that got one survives a crash.
"""
from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, Field

from ragmeter.metrics import DEFAULT_METRICS, GateConfig, Sample
from ragmeter.metrics.registry import requiring

from ragmeter.service.judge_setup import NO_JUDGE
from ragmeter.service.limits import Budget, limit_problems
from ragmeter.service.server.quota import RECORD_BACKLOG, check_backlog
from ragmeter.service.settings import Settings
from ragmeter.service.server.traffic.store import AsyncRecordStore, NewRecord, Within, dedupe_key
from ragmeter.service.server.traffic.tables import DEFAULT_APP

_SURROGATE = re.compile("[\ud800-\udfff]")
BACKLOG_FRESH_S = 1.0  # a tenant's backlog count is read again from the database after this long
MAX_ID_CHARS = 256


def _valid_text(value: str | None) -> str | None:
    # Such a name parses from JSON but cannot be written to the database as UTF-8: a 422, not a 500.
    if value is not None and _SURROGATE.search(value):
        raise ValueError("holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text")
    return value


AppName = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_valid_text)]
# Clocks disagree a little; a timestamp further ahead is a mistake (milliseconds read as seconds, a year typed
# wrong), and its record would sit at the head of every chart and picker until long after retention.
MAX_FUTURE = timedelta(days=1)


def _not_future(value: datetime | None) -> datetime | None:
    try:
        moment = _when(value)
    except OverflowError:  # "9999-12-31T23:59:59-05:00" is past year 9999 in UTC
        raise ValueError("is outside the years 1 to 9999 once converted to UTC") from None
    if moment is not None and moment > datetime.now(UTC) + MAX_FUTURE:
        raise ValueError("is more than a day in the future; send when your app answered (ISO 8601, or Unix seconds)")
    return value


class RecordIn(Sample):
    """One production answer: the sample's fields, plus when it happened, its trace and the app that answered."""

    timestamp: Annotated[datetime | None, AfterValidator(_not_future)] = Field(
        default=None, description="When the app answered (at most a day ahead of ragmeter's clock); when it was "
                                  "received if omitted. Charts and alerts bucket by it.")
    trace_id: Annotated[str | None, AfterValidator(_valid_text)] = Field(
        default=None, max_length=64, description="The trace it came from (OTLP), if any; sampling keeps or drops "
                                                 "a trace whole.")
    app: AppName | None = Field(default=None, description="Which app answered; the request's `app` when omitted, "
                                                          "else \"default\".")


class Accepted(BaseModel):
    """What POST /v1/records (and /v1/traces) accepted: stored records' ids, and what was not stored and why."""

    accepted: int = Field(description="Records stored by this request.")
    ids: list[str] = Field(description="The id of each record kept, in request order (sampled-out ones left out); "
                                       "a duplicate's id is that of the record stored before.")
    sampled_out: int = Field(0, description="Records not kept because of the sampling rate.")
    duplicates: int = Field(0, description="Records already stored (same app and `id`): not stored again.")


def sample_rate(settings: Settings, tenant: str | None) -> float:
    """The share of the tenant's records kept: its own rate (RAGMETER_RECORD_SAMPLE_RATES), else the default."""
    if tenant is not None and tenant in settings.record_sample_rates:
        return settings.record_sample_rates[tenant]
    return settings.record_sample_rate


def kept(record: RecordIn, rate: float) -> bool:
    """Whether sampling keeps the record: by a hash of its trace id (else its id), so a trace is kept whole and a
    retried send decides the same; a record with neither is kept at random."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    key = record.trace_id or (str(record.id) if record.id is not None else None)
    if key is None:
        return random.random() < rate
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2 ** 64 < rate


def record_problems(records: list[RecordIn], metrics: list[str], gate: GateConfig, settings: Settings,
                    budget: Budget) -> list[dict[str, Any]]:
    """The limits of /v1/evaluate for each record, in FastAPI's 422 shape naming ["body", "records", i, ...]."""
    wanted = set(metrics) | gate.limited_metrics
    needing = sorted(requiring("retrieved_contexts", wanted))
    problems = []
    for i, record in enumerate(records):
        loc = ("body", "records", i)
        problems += [{"type": p.kind, "loc": (*loc, *p.field), "msg": p.message, "input": None}
                     for p in limit_problems(record, settings, budget)]
        if needing and not record.retrieved_contexts:
            problems.append({"type": "missing", "loc": (*loc, "retrieved_contexts"), "input": None,
                             "msg": f"must hold at least one context for {', '.join(needing)}"})
        if isinstance(record.id, str) and len(record.id) > MAX_ID_CHARS:
            problems.append({"type": "string_too_long", "loc": (*loc, "id"), "input": None,
                             "msg": f"{len(record.id)} characters is more than {MAX_ID_CHARS}"})
    return problems


@dataclass
class Backlog:
    """Each tenant's count of records not yet scored, read from the database at most once a second; what this
    process stored since is added, so a burst cannot overshoot the bound by more than a second of scoring."""

    counts: dict[str | None, tuple[float, int]] = field(default_factory=dict)

    async def pending(self, store: AsyncRecordStore, tenant: str | None) -> int:
        moment = time.monotonic()
        read = self.counts.get(tenant)
        if read is None or moment - read[0] > BACKLOG_FRESH_S:
            read = self.counts[tenant] = (moment, await store.backlog(tenant))
        return read[1]

    def stored(self, tenant: str | None, n: int) -> None:
        if tenant in self.counts:
            at, count = self.counts[tenant]
            self.counts[tenant] = (at, count + n)


def _when(moment: datetime | None) -> datetime | None:
    """A timestamp in UTC; one without a zone is taken as UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def accept(request: Request, tenant: str | None, records: list[RecordIn], app: str | None = None, *,
                 metrics: list[str] | None = None, gate: GateConfig | None = None,
                 within: Within | None = None) -> Accepted:
    """Sample, check the backlog (429 with Retry-After when full), store durably, wake the runner; what was stored.

    422 (RequestValidationError) when a record breaks a limit, 503 without a judge or executor; nothing is stored
    then. `within` runs in the records' transaction (also when sampling kept none of them)."""
    state = request.app.state
    settings: Settings = state.settings
    if state.judge is None:  # 503 now rather than records that stay pending
        raise HTTPException(503, NO_JUDGE)
    if state.executor.state == "failed":  # Ray did not start: nothing here would score them
        raise HTTPException(503, state.executor.reason)
    if len(records) > settings.record_max_per_request:
        raise HTTPException(413, f"{len(records)} records is more than the {settings.record_max_per_request} "
                                 "allowed per request (RAGMETER_RECORD_MAX_PER_REQUEST); send several requests")
    wanted = list(dict.fromkeys(metrics)) if metrics else list(DEFAULT_METRICS)
    gate = gate or GateConfig()
    if problems := record_problems(records, wanted, gate, settings, Budget.of(settings, state.judge)):
        raise RequestValidationError(problems)

    rate = sample_rate(settings, tenant)
    chosen = [record for record in records if kept(record, rate)]
    store: AsyncRecordStore = state.record_store
    if chosen:
        limit = settings.record_max_backlog
        pending = await state.record_backlog.pending(store, tenant) if limit else 0
        left = state.quota.samples_left(tenant) if tenant is not None else None
        fresh = len(chosen)
        if (limit and pending + fresh > limit) or (left is not None and left < fresh):
            # Only then, so that a request that fits costs no lookup: a retried send holds records already stored,
            # which take no room in the backlog or the quota (see Duplicates in docs/traffic.md).
            fresh = await _new_count(store, tenant, chosen, app)
        check_backlog(RECORD_BACKLOG, limit, pending, fresh, state.record_queue.rate())
        if left is not None and left < fresh:
            state.quota.samples(tenant, fresh)  # raises the quota's 429 with its Retry-After
    fields = Sample.model_fields
    new = [NewRecord(sample=Sample.model_construct(**{name: getattr(r, name) for name in fields}),
                     app=r.app or app or DEFAULT_APP, ts=_when(r.timestamp), trace_id=r.trace_id) for r in chosen]
    added = await store.add(tenant, new, wanted, gate, within) if new or within is not None else None
    stored = len(new) - added.duplicates if added else 0
    if stored:
        state.record_backlog.stored(tenant, stored)
        if tenant is not None:
            state.quota.samples(tenant, stored, check=False)  # checked above; duplicates are not counted
        state.record_queue.wake()
    return Accepted(accepted=stored, ids=added.ids if added else [], sampled_out=len(records) - len(chosen),
                    duplicates=added.duplicates if added else 0)


async def _new_count(store: AsyncRecordStore, tenant: str | None, records: list[RecordIn], app: str | None) -> int:
    """How many of the records would be stored: those without an id, and one per id not stored before."""
    keys = [dedupe_key(tenant, r.app or app or DEFAULT_APP, r.id) for r in records]
    known = await store.known([k for k in keys if k is not None]) if any(k is not None for k in keys) else set()
    new = {k for k in keys if k is not None} - known
    return sum(k is None for k in keys) + len(new)
