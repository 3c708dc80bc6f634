"""Monitoring production traffic: the tenant's apps, each app's metrics over time, and its latest failing answers."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query as Param
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from ragmeter.service.server.api.deps import get_store
from ragmeter.service.server.api.responses import errors
from ragmeter.service.server.batches.store import AsyncStore
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.traffic import monitor
from ragmeter.service.server.traffic.monitor import (MAX_BUCKETS, SERIES, AppSummary, Failure, Query, SeriesResult,
                                                     auto_bucket)
from ragmeter.service.server.traffic.tables import DEFAULT_APP

router = APIRouter(prefix="/v1/monitor", tags=["monitoring"])
Store = Annotated[AsyncStore, Depends(get_store)]
Tenant = Annotated[str | None, Depends(get_tenant)]
DEFAULT_WINDOW = timedelta(hours=24)


class Apps(BaseModel):
    apps: list[AppSummary]


class Failures(BaseModel):
    app: str | None
    failures: list[Failure]


def _invalid(name: str, message: str) -> RequestValidationError:
    # FastAPI's own 422 shape (a list naming the parameter), as the OpenAPI document promises.
    return RequestValidationError([{"type": "value_error", "loc": ("query", name), "msg": message, "input": None}])


MAX_BUCKET_S = 366 * 86_400
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _moment(name: str, value: datetime) -> datetime:
    """The query's time in UTC, or a 422: bucket starts are computed as Unix times, so they must be representable."""
    try:
        moment = _utc(value)
    except OverflowError:  # an offset that moves year 1 or 9999 off the calendar
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise _invalid(name, f"must be between {EARLIEST.date()} and {LATEST.date()}")
    return moment


def parse_where(values: list[str]) -> dict[str, str]:
    """`where=model:gpt-4o&where=lang:en`: each metadata field and the value it must have (all must match)."""
    where: dict[str, str] = {}
    for value in values:
        key, sep, wanted = value.partition(":")
        if not sep or not key.strip():
            raise _invalid("where", f"{value!r} is not key:value (e.g. where=model:gpt-4o)")
        where[_key("where", key.strip())] = wanted.strip()
    return where


def _key(name: str, key: str) -> str:
    # Keys are read with SQLite's JSON paths, where '"' and '\\' cannot be written (as in the batch row browser).
    if '"' in key or "\\" in key:
        raise _invalid(name, f"{key!r}: a metadata key cannot hold '\"' or '\\\\'")
    return key


@router.get("/apps", responses=errors(401, 429))
async def list_apps(store: Store, tenant: Tenant) -> Apps:
    """The apps that sent records, most recently seen first, with their record counts."""
    return Apps(apps=await asyncio.to_thread(_with_session, store, lambda s: monitor.apps(s, tenant)))


@router.get("/series", responses=errors(401, 429))
async def get_series(
        store: Store, tenant: Tenant,
        app: Annotated[str, Param(max_length=128, description="The app; \"default\" when omitted.")] = DEFAULT_APP,
        metric: Annotated[list[str] | None, Param(description=f"Series to return (repeat it): {', '.join(SERIES)}; "
                                                              "all when omitted.")] = None,
        start: Annotated[datetime | None, Param(alias="from", description="Window start (ISO 8601; UTC when "
                                                                          "no offset); `to` minus 24 h when "
                                                                          "omitted.")] = None,
        end: Annotated[datetime | None, Param(alias="to", description="Window end; now by default.")] = None,
        bucket: Annotated[int | None, Param(ge=60, le=MAX_BUCKET_S,
                                            description="Bucket size in seconds (at most 366 days); chosen from "
                                                        "the window (at most ~100 buckets) when omitted.")] = None,
        where: Annotated[list[str] | None, Param(description="Metadata filter key:value; repeat it for several "
                                                             "(all must match).")] = None,
        group_by: Annotated[str | None, Param(max_length=128, description="A metadata field: one series per "
                                                                          "value.")] = None,
        top: Annotated[int, Param(ge=1, le=50, description="With group_by: the values with the most records "
                                                           "shown.")] = 5) -> SeriesResult:
    """Per bucket of the window: count, mean, p10 and 95% interval of each metric, and the gate pass rate."""
    unknown = [m for m in metric or [] if m not in SERIES]
    if unknown:
        raise _invalid("metric", f"unknown {', '.join(map(repr, unknown))}; known: {', '.join(SERIES)}")
    end_at = _moment("to", end) if end is not None else datetime.now(UTC)
    # Checked before `to` minus the default window is taken: near year 1 that subtraction itself overflows.
    start_at = _moment("from", start) if start is not None else max(EARLIEST, end_at - DEFAULT_WINDOW)
    if start_at >= end_at:
        raise _invalid("from", "must be before `to`")
    span = (end_at - start_at).total_seconds()
    size = bucket or auto_bucket(span)
    if span / size > MAX_BUCKETS:
        raise _invalid("bucket", f"{size} s cuts the window into more than {MAX_BUCKETS} buckets; choose a larger one")
    query = Query(tenant=tenant, app=app, start=start_at, end=end_at, bucket_s=size,
                  metrics=tuple(m for m in SERIES if m in metric) if metric else SERIES,
                  where=parse_where(where or []), group_by=_key("group_by", group_by) if group_by else None,
                  top=top)
    return await asyncio.to_thread(_with_session, store, lambda s: monitor.series(s, query))


@router.get("/failures", responses=errors(401, 429))
async def get_failures(
        store: Store, tenant: Tenant,
        app: Annotated[str | None, Param(max_length=128, description="Only this app's; every app's when "
                                                                     "omitted.")] = None,
        limit: Annotated[int, Param(ge=1, le=200, description="Most records returned, newest first.")] = 20
) -> Failures:
    """The latest records whose gate failed, with the claims the contexts do not support or contradict."""
    found = await asyncio.to_thread(_with_session, store, lambda s: monitor.failures(s, tenant, app, limit))
    return Failures(app=app, failures=found)


def _with_session(store: AsyncStore, read):
    with store.sync.session() as s:
        return read(s)
