"""Alert rules evaluated as scores arrive: a window's mean below a threshold fires once, and recovers once.

A rule watches one metric (a WATCHED column, or the gate pass rate) of one app or of every app of its tenant,
optionally a metadata slice. Its window is the records whose `ts` lies in (now - window_s, now], "now" being the
evaluating process's clock (UTC) when it evaluates. With fewer than `min_count` scored values in the window the
rule is not evaluated and keeps its state. State changes are conditional UPDATEs (WHERE state = 'ok' / 'firing'),
so replicas evaluating the same rule at the same moment write one event between them.

`AlertEvaluator` runs in each process: the record runner marks (tenant, app) dirty after each scored record, the
rules that watch it are evaluated within about a second (debounced: one pass per `debounce_s`), and every rule is
evaluated every `every_s` seconds too (windows age out without traffic; other replicas' records are seen).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Float, String, case, cast, func, insert, select, update
from sqlalchemy.orm import Session

from ragmeter.service.server.batches.store import Store, changed
from ragmeter.service.server.traffic.buckets import sqlite_meta
from ragmeter.service.server.traffic.tables import PASS_RATE, WATCHED, AlertEvent, AlertRule, Record

log = logging.getLogger("ragmeter.alerts")
METRICS = (*WATCHED, PASS_RATE)
OK, FIRING = "ok", "firing"
# Dirty mark for "every app of this tenant" (a new rule, or a caller that does not know the app).
ANY_APP = None


@dataclass(frozen=True)
class Window:
    """What a rule's window holds now: the mean of the watched values and how many there were."""

    value: float | None
    count: int


@dataclass(frozen=True)
class Outcome:
    """One evaluation: the window, and the event it wrote ("fired", "recovered") or None."""

    rule_id: str
    window: Window
    event: str | None


def window(s: Session, rule: AlertRule, at: datetime) -> Window:
    """The mean and count of the rule's metric over its window ending at `at`, read with one aggregate query."""
    if rule.metric == PASS_RATE:
        column: Any = Record.gate_passed
        value: Any = case((Record.gate_passed.is_(True), 1.0), else_=0.0)
    else:
        column = value = getattr(Record, rule.metric)
    query = select(func.avg(cast(value, Float)), func.count(column)).where(
        Record.tenant.is_(None) if rule.tenant is None else Record.tenant == rule.tenant,
        Record.ts > at - timedelta(seconds=rule.window_s), Record.ts <= at,
        Record.scored_at.is_not(None), column.is_not(None))
    if rule.app is not None:
        query = query.where(Record.app == rule.app)
    sqlite = s.get_bind().dialect.name == "sqlite"
    for key, wanted in (rule.slice or {}).items():
        # Compared as text on both databases (SQLite's json_extract keeps numbers as numbers).
        found = sqlite_meta(func.json_extract, key) if sqlite else Record.meta[key].as_string()
        query = query.where(cast(found, String) == str(wanted))
    mean, count = s.execute(query).one()
    return Window(value=None if mean is None else min(1.0, max(0.0, float(mean))), count=int(count or 0))


def payload(rule: AlertRule, kind: str, seen: Window, at: datetime, link: str) -> dict[str, Any]:
    """The webhook body's fields for an event (all but `id` and `sent_at`, added when the event is stored/sent)."""
    return {"kind": kind, "rule": {"id": rule.id, "name": rule.name}, "app": rule.app, "slice": rule.slice or {},
            "metric": rule.metric, "value": seen.value, "count": seen.count, "threshold": rule.threshold,
            "window_s": rule.window_s, "min_count": rule.min_count, "time": at.isoformat(), "link": link}


def evaluate(store: Store, rule_id: str, at: datetime | None = None, base_url: str = "") -> Outcome | None:
    """Evaluate one rule now (or at `at`): record its window, and on a breach or a recovery move its state with a
    conditional UPDATE and write the event in the same transaction. None when the rule no longer exists."""
    at = at or store.clock()
    with store.begin() as s:
        rule = s.get(AlertRule, rule_id)
        if rule is None:
            return None
        seen = window(s, rule, at)
        seen_values = {"last_value": seen.value, "last_count": seen.count}
        event = None
        if seen.count >= rule.min_count and seen.value is not None:
            breached = seen.value < rule.threshold
            old, new, kind = (OK, FIRING, "fired") if breached else (FIRING, OK, "recovered")
            moved = changed(s.execute(update(AlertRule).where(AlertRule.id == rule_id, AlertRule.state == old)
                                      .values(state=new, state_since=at, **seen_values)
                                      .execution_options(synchronize_session=False)))
            if moved:
                link = f"{base_url.rstrip('/')}/#alerts"
                s.execute(insert(AlertEvent).values(
                    rule_id=rule_id, tenant=rule.tenant, kind=kind, at=at, value=seen.value, count=seen.count,
                    payload=payload(rule, kind, seen, at, link), attempts=0,
                    next_attempt_at=store.clock() if rule.webhook_url else None))
                event = kind
                log.warning("alert %s (%s) %s: %s %s over %d records (threshold %s)", rule.name, rule_id, kind,
                            rule.metric, f"{seen.value:.3f}", seen.count, rule.threshold)
        if event is None:
            s.execute(update(AlertRule).where(AlertRule.id == rule_id).values(**seen_values)
                      .execution_options(synchronize_session=False))
    return Outcome(rule_id, seen, event)


def rules_watching(store: Store, marks: set[tuple[str | None, str | None]] | None) -> list[str]:
    """Ids of the rules that watch any of the marked (tenant, app) pairs; every rule when `marks` is None."""
    with store.session() as s:
        rows = s.execute(select(AlertRule.id, AlertRule.tenant, AlertRule.app)).all()
    if marks is None:
        return [r.id for r in rows]
    return [r.id for r in rows
            if any(r.tenant == tenant and (r.app is None or app is ANY_APP or r.app == app) for tenant, app in marks)]


def evaluate_many(store: Store, marks: set[tuple[str | None, str | None]] | None, base_url: str = "") -> list[Outcome]:
    """Evaluate the rules watching `marks` (every rule when None); a rule that fails is logged, the rest still run."""
    outcomes = []
    for rule_id in rules_watching(store, marks):
        try:
            outcome = evaluate(store, rule_id, base_url=base_url)
        except Exception:  # one bad rule (or a dropped connection) must not stop the others
            log.exception("alert rule %s could not be evaluated", rule_id)
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


class AlertEvaluator:
    """The per-process task that evaluates rules: marked ones promptly, every one periodically."""

    def __init__(self, store: Store, every_s: float, debounce_s: float = 1.0, base_url: str = "",
                 on_event: Callable[[], None] | None = None):
        self.store, self.every_s, self.debounce_s, self.base_url = store, every_s, debounce_s, base_url
        self.on_event = on_event
        self.marks: set[tuple[str | None, str | None]] = set()
        self.lock = threading.Lock()  # the runner may call `mark` from a worker thread
        self.wake = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task | None = None
        self.passes = 0

    def mark(self, tenant: str | None, app: str | None = ANY_APP) -> None:
        """A record of (tenant, app) was scored: evaluate the rules watching it soon. Safe from any thread."""
        with self.lock:
            self.marks.add((tenant, app))
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(self.wake.set)

    def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.task = asyncio.create_task(self._run(), name="alert-evaluator")

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()  # the first pass evaluates every rule: state may have changed while this process was down
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(0.0, due - loop.time()))
            self.wake.clear()
            with self.lock:
                marks, self.marks = self.marks, set()
            everything = loop.time() >= due
            if everything:
                due = loop.time() + self.every_s
            try:
                outcomes = await asyncio.to_thread(evaluate_many, self.store, None if everything else marks,
                                                   self.base_url)
            except Exception:  # the database may be briefly away; the next pass tries again
                log.exception("alert evaluation pass failed")
                outcomes = []
            self.passes += 1
            if any(o.event for o in outcomes) and self.on_event is not None:
                self.on_event()
            # Debounce: marks arriving meanwhile wait for the next pass, so a rule is evaluated at most once per
            # `debounce_s` however fast records are scored.
            await asyncio.sleep(self.debounce_s)


def new_rule_id() -> str:
    return str(uuid.uuid4())
