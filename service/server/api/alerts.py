"""Alert rules over the API: /v1/alerts (create, list, read with recent events, delete) and /v1/alerts/events."""
from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime
from typing import Annotated, NoReturn

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ragmeter.service.server.api.deps import get_settings, get_store
from ragmeter.service.server.api.responses import errors
from ragmeter.service.server.batches.store import AsyncStore
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.traffic import rules
from ragmeter.service.server.traffic.alerts import METRICS
from ragmeter.service.server.traffic.tables import AlertEvent, AlertRule
from ragmeter.service.server.traffic.webhooks import BadWebhook, aware, check_url, delivery_status
from ragmeter.service.settings import Settings

router = APIRouter(prefix="/v1/alerts", tags=["alerts"])
Store = Annotated[AsyncStore, Depends(get_store)]
Tenant = Annotated[str | None, Depends(get_tenant)]
MAX_WINDOW_S = 30 * 86400.0
# PostgreSQL text cannot hold NUL characters: refused here rather than a 500 there.
NO_NUL = r"^[^\x00]*$"
# A metadata field name that is safe inside a JSON path on both databases.
SLICE_KEY = re.compile(r'[^"\\\x00-\x1f]{1,128}')


class AlertIn(BaseModel):
    """A rule: fires when the mean of `metric` over the last `window_s` seconds falls below `threshold`."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=128, pattern=NO_NUL,
                             description="Defaults to \"METRIC < THRESHOLD\".")
    metric: str = Field(description=f"One of {', '.join(METRICS)}.")
    app: str | None = Field(None, min_length=1, max_length=128, pattern=NO_NUL,
                            description="Watch one app; every app when omitted.")
    slice: dict[str, str] = Field(default_factory=dict, description="Metadata field -> value; only records whose "
                                  "metadata has all of them count (values compared as text).")
    window_s: float = Field(gt=0, le=MAX_WINDOW_S, description="Seconds of records (by their timestamp) in the "
                                                               "window, ending now.")
    threshold: float = Field(ge=0, le=1, description="Breached when the window's mean is below it.")
    min_count: int = Field(10, ge=1, le=1_000_000_000,
                           description="Scored records the window needs before the rule is evaluated.")
    webhook_url: str | None = Field(None, max_length=2000, pattern=NO_NUL,
                                    description="http(s) URL that receives each event.")
    secret: str | None = Field(None, min_length=16, max_length=256, pattern=NO_NUL,
                               description="HMAC key of the webhook body; generated when omitted.")

    @field_validator("slice")
    @classmethod
    def _plain_keys(cls, slice: dict[str, str]) -> dict[str, str]:
        for key, value in slice.items():
            if "\x00" in value:
                raise ValueError(f"the value of {key!r} must not hold a NUL character")
            if not SLICE_KEY.fullmatch(key):
                raise ValueError(f"metadata field {key!r} must be 1 to 128 characters without quotes, backslashes "
                                 "or control characters")
        return slice

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS:
            raise ValueError(f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
        return metric


class Alert(BaseModel):
    id: str
    name: str
    app: str | None
    metric: str
    slice: dict[str, str]
    window_s: float
    threshold: float
    min_count: int
    webhook_url: str | None
    state: str = Field(description="ok | firing")
    state_since: datetime | None
    last_value: float | None = Field(description="The window's mean when last evaluated (null: no values).")
    last_count: int | None = Field(description="Scored values in the window when last evaluated.")
    created_at: datetime

    @classmethod
    def of(cls, rule: AlertRule) -> Alert:
        return cls(id=rule.id, name=rule.name, app=rule.app, metric=rule.metric, slice=rule.slice or {},
                   window_s=rule.window_s, threshold=rule.threshold, min_count=rule.min_count,
                   webhook_url=rule.webhook_url, state=rule.state, state_since=aware(rule.state_since),
                   last_value=rule.last_value, last_count=rule.last_count, created_at=aware(rule.created_at))


class CreatedAlert(Alert):
    secret: str = Field(description="The webhook's HMAC key; shown only in this answer.")


class Delivery(BaseModel):
    status: str = Field(description="delivered | pending | retrying | failed | none (no webhook)")
    attempts: int
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None


class Event(BaseModel):
    id: int
    rule_id: str
    rule_name: str
    kind: str = Field(description="fired | recovered")
    at: datetime
    value: float | None
    count: int
    delivery: Delivery

    @classmethod
    def of(cls, event: AlertEvent, rule_name: str, hooked: bool, max_attempts: int) -> Event:
        return cls(id=event.id, rule_id=event.rule_id, rule_name=rule_name, kind=event.kind, at=aware(event.at),
                   value=event.value, count=event.count, delivery=Delivery(
                       status=delivery_status(event, hooked, max_attempts), attempts=event.attempts,
                       delivered_at=aware(event.delivered_at), next_attempt_at=aware(event.next_attempt_at),
                       last_error=event.last_error))


class AlertDetail(Alert):
    events: list[Event] = Field(description="Its most recent events first, with their webhook delivery.")


class DeletedAlert(BaseModel):
    id: str
    deleted: bool = True


def _invalid(field: str, message: str, value: object) -> NoReturn:
    raise RequestValidationError([{"type": "value_error", "loc": ("body", field), "msg": message, "input": value}])


def _mark(request: Request, tenant: str | None, app: str | None) -> None:
    evaluator = getattr(request.app.state, "alerts", None)
    if evaluator is not None:
        evaluator.mark(tenant, app)


@router.post("", status_code=201, responses=errors(401, 429))
async def create_alert(request: Request, body: AlertIn, store: Store, tenant: Tenant,
                       settings: Annotated[Settings, Depends(get_settings)]) -> CreatedAlert:
    """Create a rule; its secret (given or generated) is in this answer only. It is evaluated at once."""
    if body.webhook_url is not None:
        try:
            await asyncio.to_thread(check_url, body.webhook_url, settings.alert_allow_private_webhooks)
        except BadWebhook as exc:
            _invalid("webhook_url", str(exc), body.webhook_url)
    secret = body.secret or secrets.token_urlsafe(32)
    fields = body.model_dump(exclude={"secret"}) | {"secret": secret,
                                                    "name": body.name or f"{body.metric} < {body.threshold:g}"}
    rule = await asyncio.to_thread(rules.create_rule, store.sync, tenant, fields)
    _mark(request, tenant, rule.app)
    return CreatedAlert(**Alert.of(rule).model_dump(), secret=secret)


@router.get("", responses=errors(401, 429))
async def list_alerts(store: Store, tenant: Tenant) -> list[Alert]:
    """Every rule of the caller's tenant, with its state and its window when last evaluated."""
    return [Alert.of(rule) for rule in await asyncio.to_thread(rules.list_rules, store.sync, tenant)]


@router.get("/events", responses=errors(401, 429))
async def list_events(store: Store, tenant: Tenant, settings: Annotated[Settings, Depends(get_settings)],
                      limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> list[Event]:
    """The tenant's most recent alert events first (fired, recovered), with their webhook delivery."""
    found = await asyncio.to_thread(rules.events, store.sync, tenant, limit)
    return [Event.of(event, name, hooked, settings.alert_webhook_max_attempts) for event, name, hooked in found]


@router.get("/{alert_id}", responses=errors(401, 404, 429))
async def get_alert(store: Store, tenant: Tenant, settings: Annotated[Settings, Depends(get_settings)],
                    alert_id: str, limit: Annotated[int, Query(ge=1, le=1000)] = 20) -> AlertDetail:
    """One rule with its most recent events and their delivery."""
    rule = await asyncio.to_thread(rules.get_rule, store.sync, tenant, alert_id)
    if rule is None:  # another tenant's rule is as absent as a missing one
        raise HTTPException(404, f"no alert {alert_id}")
    found = await asyncio.to_thread(rules.events, store.sync, tenant, limit, alert_id)
    return AlertDetail(**Alert.of(rule).model_dump(), events=[
        Event.of(event, name, hooked, settings.alert_webhook_max_attempts) for event, name, hooked in found])


@router.delete("/{alert_id}", responses=errors(401, 404, 429))
async def delete_alert(store: Store, tenant: Tenant, alert_id: str) -> DeletedAlert:
    """Delete a rule and its events; events not yet delivered are not sent."""
    if not await asyncio.to_thread(rules.delete_rule, store.sync, tenant, alert_id):
        raise HTTPException(404, f"no alert {alert_id}")
    return DeletedAlert(id=alert_id)
