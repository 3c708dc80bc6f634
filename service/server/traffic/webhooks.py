"""Webhook delivery of alert events from the `alert_events` outbox: signed, retried with backoff, resumable.

Each event is POSTed as JSON to its rule's webhook URL with
    X-Ragmeter-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed by the rule's secret>
    X-Ragmeter-Timestamp: <unix seconds when sent>, equal to the body's `sent_at`
    X-Ragmeter-Event: <event id>, the same on every retry of one event
The body carries `sent_at`, so the signature covers it: a receiver rejects bodies older than a few minutes and
remembers event ids it has accepted (delivery is at least once: a process that dies after the receiver answered,
before it recorded the delivery, sends it again).

A delivery is claimed with a conditional UPDATE (attempts and next_attempt_at as read), which also pushes
next_attempt_at past the send's timeout: another replica cannot claim it meanwhile, and a process that dies mid-send
leaves it to be retried once that lapses. Failures are retried with exponential backoff and jitter up to
`max_attempts`; attempts, next_attempt_at and last_error are stored, so a restart resumes where it stopped.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx
from sqlalchemy import func, select, update

from ragmeter.service.server.batches.store import Store, changed
from ragmeter.service.server.traffic.tables import AlertEvent, AlertRule

log = logging.getLogger("ragmeter.alerts")
SIGNATURE = "X-Ragmeter-Signature"
TIMESTAMP = "X-Ragmeter-Timestamp"
EVENT = "X-Ragmeter-Event"


class BadWebhook(ValueError):
    """A webhook URL that is refused: not http(s), no host, or (unless allowed) a private or loopback address."""


def check_url(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s) with a host, or whose host resolves to a loopback, private, link-local or
    otherwise non-public address unless `allow_private` (this resolves the name: call it from a worker thread)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a malformed IPv6 host or port
        raise BadWebhook(f"is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise BadWebhook(f"must be an http:// or https:// URL, not {parts.scheme or 'a relative one'}")
    if not parts.hostname:
        raise BadWebhook("has no host")
    if parts.username or parts.password:
        raise BadWebhook("must not carry a user name or password; the body is signed with the rule's secret")
    if allow_private:
        return
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port or 443,
                                                               proto=socket.IPPROTO_TCP)}
    except (OSError, UnicodeError, ValueError) as exc:  # unknown name, or one no resolver accepts
        raise BadWebhook(f"host {parts.hostname!r} does not resolve: {exc}") from exc
    for address in addresses:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0])
        if not ip.is_global:
            raise BadWebhook(f"host {parts.hostname!r} is a non-public address ({ip}); set "
                             "RAGMETER_ALERT_ALLOW_PRIVATE_WEBHOOKS=true to post to loopback or private networks")


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str, timestamp: str, tolerance_s: float = 300.0,
           now: float | None = None) -> bool:
    """What a receiver checks: the signature matches the raw body, and the body was sent within `tolerance_s`."""
    if not hmac.compare_digest(sign(secret, body), signature):
        return False
    try:
        sent = float(json.loads(body)["sent_at"])
    except (ValueError, KeyError, TypeError):
        return False
    return str(int(sent)) == timestamp and abs((now or time.time()) - sent) <= tolerance_s


@dataclass(frozen=True)
class Policy:
    timeout_s: float = 5.0
    max_attempts: int = 8
    backoff_s: float = 2.0
    max_backoff_s: float = 600.0
    allow_private: bool = False


@dataclass(frozen=True)
class Claimed:
    event_id: int
    attempt: int
    url: str
    secret: str
    payload: dict


def backoff(policy: Policy, attempt: int) -> float:
    """Seconds before retry after the `attempt`-th failure: doubling from backoff_s, capped, with jitter (half to
    all of it) so that receivers coming back up are not hit by every sender at once."""
    delay = min(policy.max_backoff_s, policy.backoff_s * 2 ** (attempt - 1))
    return delay * random.uniform(0.5, 1.0)


def claim_due(store: Store, policy: Policy, limit: int = 20) -> list[Claimed]:
    """Claim up to `limit` events due for delivery (not delivered, attempts left, next attempt due)."""
    moment = store.clock()
    query = (select(AlertEvent.id, AlertEvent.attempts, AlertEvent.next_attempt_at, AlertEvent.payload,
                    AlertRule.webhook_url, AlertRule.secret)
             .join(AlertRule, AlertRule.id == AlertEvent.rule_id)
             .where(AlertEvent.delivered_at.is_(None), AlertEvent.attempts < policy.max_attempts,
                    AlertEvent.next_attempt_at.is_not(None), AlertEvent.next_attempt_at <= moment,
                    AlertRule.webhook_url.is_not(None))
             .order_by(AlertEvent.id).limit(limit))
    claimed = []
    with store.session() as s:
        candidates = s.execute(query).all()
    for row in candidates:
        hold = moment + timedelta(seconds=policy.timeout_s + 30)
        with store.begin() as s:
            # Only the process whose UPDATE still sees what it read owns this attempt.
            won = changed(s.execute(update(AlertEvent).where(
                AlertEvent.id == row.id, AlertEvent.attempts == row.attempts,
                AlertEvent.next_attempt_at == row.next_attempt_at, AlertEvent.delivered_at.is_(None))
                .values(attempts=row.attempts + 1, next_attempt_at=hold)))
        if won:
            claimed.append(Claimed(row.id, row.attempts + 1, row.webhook_url, row.secret or "", row.payload))
    return claimed


def body_of(claim: Claimed, sent_at: int) -> bytes:
    return json.dumps({"id": claim.event_id, **claim.payload, "sent_at": sent_at}, separators=(",", ":")).encode()


def send(claim: Claimed, policy: Policy, client: httpx.Client) -> str | None:
    """POST one event; None when the receiver answered 2xx, else why it failed."""
    try:
        check_url(claim.url, policy.allow_private)  # again: the name may resolve elsewhere since the rule was made
    except BadWebhook as exc:
        return f"webhook_url {exc}"
    sent_at = int(time.time())
    body = body_of(claim, sent_at)
    headers = {"Content-Type": "application/json", SIGNATURE: sign(claim.secret, body), TIMESTAMP: str(sent_at),
               EVENT: str(claim.event_id), "User-Agent": "ragmeter-alerts"}
    try:
        response = client.post(claim.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"[:500]
    if response.is_success:
        return None
    return f"HTTP {response.status_code}: {response.text[:200]}"


def record(store: Store, claim: Claimed, policy: Policy, problem: str | None) -> None:
    """Store a send's outcome: delivered, or the error and when to retry (never, once attempts are used up)."""
    moment = store.clock()
    if problem is None:
        values: dict = {"delivered_at": moment, "last_error": None, "next_attempt_at": None}
    elif claim.attempt >= policy.max_attempts:
        values = {"last_error": problem, "next_attempt_at": None}
        log.error("alert event %d: webhook gave up after %d attempts: %s", claim.event_id, claim.attempt, problem)
    else:
        values = {"last_error": problem,
                  "next_attempt_at": moment + timedelta(seconds=backoff(policy, claim.attempt))}
        log.warning("alert event %d: webhook attempt %d failed: %s", claim.event_id, claim.attempt, problem)
    with store.begin() as s:
        s.execute(update(AlertEvent).where(AlertEvent.id == claim.event_id, AlertEvent.attempts == claim.attempt)
                  .values(**values))


def deliver_due(store: Store, policy: Policy, client: httpx.Client) -> int:
    """Claim, send and record every due event; how many were sent (successfully or not)."""
    claims = claim_due(store, policy)
    for claim in claims:
        record(store, claim, policy, send(claim, policy, client))
    return len(claims)


def next_due(store: Store, policy: Policy) -> datetime | None:
    """When the earliest undelivered event with attempts left is due, if any."""
    with store.session() as s:
        due = s.scalar(select(func.min(AlertEvent.next_attempt_at)).where(
            AlertEvent.delivered_at.is_(None), AlertEvent.attempts < policy.max_attempts))
    return aware(due)


def aware(moment: datetime | None) -> datetime | None:
    """A stored time as UTC-aware (SQLite hands back naive datetimes; every stored time is UTC)."""
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def delivery_status(event: AlertEvent, has_webhook: bool, max_attempts: int) -> str:
    """delivered | pending | retrying | failed | none (the rule has no webhook)."""
    if event.delivered_at is not None:
        return "delivered"
    if not has_webhook:
        return "none"
    if event.attempts >= max_attempts or (event.attempts and event.next_attempt_at is None):
        return "failed"
    return "retrying" if event.attempts else "pending"


class Deliverer:
    """The per-process task that sends due events: woken when this process writes one, else at the next due time
    or every `poll_s` (events other replicas wrote)."""

    def __init__(self, store: Store, policy: Policy, poll_s: float):
        self.store, self.policy, self.poll_s = store, policy, poll_s
        self.wake = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.client = httpx.Client(timeout=policy.timeout_s, follow_redirects=False)

    def poke(self) -> None:
        self.wake.set()

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="alert-webhooks")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.client.close()

    async def _run(self) -> None:
        while True:
            wait = self.poll_s
            try:
                await asyncio.to_thread(deliver_due, self.store, self.policy, self.client)
                due = await asyncio.to_thread(next_due, self.store, self.policy)
                if due is not None:
                    wait = min(wait, max(0.0, (due - self.store.clock()).total_seconds()))
            except Exception:  # the database may be briefly away; try again at the next poll
                log.exception("alert webhook delivery pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=wait)
            self.wake.clear()
