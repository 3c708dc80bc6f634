"""OTLP spans waiting for their trace's root, in the database: durable once acknowledged, shared by replicas.

One transaction per export request (`exchange`): claim each trace whose root arrived by inserting it into
`otlp_done` (the insert that wins is the one request that maps it; a concurrent or retried one finds it there),
stage the rootless spans (a retried export's are already there), and take the claimed traces' staged spans with
a DELETE ... RETURNING. `give_back` undoes a claim when its records could not be accepted. Rows older than
RAGMETER_OTLP_STAGING_S are dropped, and beyond RAGMETER_OTLP_STAGING_SPANS the oldest traces are: on the request
path at most once a second per process (a request is then two statements, not four), and by `sweep`; a span
taken after its time is counted expired, not mapped. Synchronous: the assembler's caller runs it in a thread.
"""
from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, tuple_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ragmeter.service.server.batches.store import Store, changed, now
from ragmeter.service.server.traffic.otlp import SpanView
from ragmeter.service.server.traffic.tables import DoneTrace, StagedSpan

OPEN_TENANT = ""  # open mode's tenant (None) in these tables, so that the unique constraint holds for it too
DEADLOCK = "40P01"  # PostgreSQL: a take and an eviction locked one trace's rows in opposite orders
TRIES = 3
CHECK_EVERY_S = 1.0  # the request path drops expired spans and checks the limit at most this often per process


def dump(span: SpanView) -> str:
    """The span as compact JSON (a list in SpanView's field order); bytes attribute values as {"$bytes": base64}."""
    return json.dumps([span.trace_id, span.span_id, span.parent_id, span.name, span.start_ns, span.end_ns,
                       span.attrs, span.events, span.resource, span.remote_parent],
                      separators=(",", ":"), default=_bytes_out)


def load(text: str) -> SpanView:
    """The SpanView `dump` wrote."""
    trace_id, span_id, parent_id, name, start_ns, end_ns, attrs, events, resource, remote = \
        json.loads(text, object_hook=_bytes_in)
    return SpanView(trace_id=trace_id, span_id=span_id, parent_id=parent_id, name=name, start_ns=start_ns,
                    end_ns=end_ns, attrs=attrs, events=[(n, a) for n, a in events], resource=resource,
                    remote_parent=remote)


def _bytes_out(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _bytes_in(value: dict[str, Any]) -> Any:
    return base64.b64decode(value["$bytes"]) if len(value) == 1 and "$bytes" in value else value


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment  # SQLite gives naive UTC back


@dataclass
class Taken:
    """A staged span taken by a claim, as stored (so that `give_back` restores it unchanged)."""

    id: int
    trace_id: str
    span_id: str
    received_at: datetime
    span: str


@dataclass
class Exchanged:
    """What one request's transaction did: traces claimed, rootless traces already done, spans taken, dropped."""

    claimed: set[str] = field(default_factory=set)
    late: set[str] = field(default_factory=set)
    taken: list[Taken] = field(default_factory=list)
    expired: int = 0
    evicted: int = 0


class SpanStaging:
    def __init__(self, store: Store, staging_s: float, staging_spans: int, clock: Callable[[], datetime] = now,
                 check_every_s: float = CHECK_EVERY_S):
        """Staging in the store's database; `clock` says when spans expire (tests pass their own, and check the
        limits on every request with `check_every_s` 0)."""
        self.store = store
        self.dialect = postgresql if store.engine.dialect.name == "postgresql" else sqlite
        self.staging_s, self.staging_spans, self.clock = staging_s, staging_spans, clock
        self.check_every_s = check_every_s
        self._checked = -float("inf")  # time.monotonic() of this process's last check on the request path

    def exchange(self, tenant: str | None, waiting: list[SpanView], rooted: Iterable[str]) -> Exchanged:
        """Stage `waiting` (spans of rootless traces), claim the `rooted` traces and take their staged spans."""
        for attempt in range(TRIES):
            try:
                with self.store.begin() as s:
                    return self._exchange(s, tenant or OPEN_TENANT, waiting, sorted(set(rooted)))
            except OperationalError as exc:  # a deadlock rolled the whole transaction back: do it again
                if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, s: Session, tenant: str, waiting: list[SpanView], rooted: list[str]) -> Exchanged:
        moment = self.clock()
        out = Exchanged()
        # Writes first: SQLite takes its write lock at the transaction's first statement (a read first could fail
        # with SQLITE_BUSY when upgraded), and sorted ids lock PostgreSQL's rows in one order for every request.
        if rooted:
            claim = (self.dialect.insert(DoneTrace)
                     .values([{"tenant": tenant, "trace_id": t, "done_at": moment} for t in rooted])
                     .on_conflict_do_nothing().returning(DoneTrace.trace_id))
            out.claimed = set(s.scalars(claim))
        if waiting:
            s.execute(self.dialect.insert(StagedSpan).on_conflict_do_nothing(),
                      [{"tenant": tenant, "trace_id": span.trace_id, "span_id": span.span_id,
                        "received_at": moment, "span": dump(span)} for span in waiting])
            traces = sorted({span.trace_id for span in waiting})
            out.late = set(s.scalars(select(DoneTrace.trace_id).where(DoneTrace.tenant == tenant,
                                                                      DoneTrace.trace_id.in_(traces))))
            if out.late:  # their root was mapped already: these spans would only wait to expire
                s.execute(delete(StagedSpan).where(StagedSpan.tenant == tenant, StagedSpan.trace_id.in_(out.late)))
            if time.monotonic() - self._checked >= self.check_every_s:
                self._checked = time.monotonic()
                out.expired = self._expire(s, moment)
                out.evicted = self._evict(s)
        if out.claimed:
            take = (delete(StagedSpan).where(StagedSpan.tenant == tenant, StagedSpan.trace_id.in_(out.claimed))
                    .returning(StagedSpan.id, StagedSpan.trace_id, StagedSpan.span_id, StagedSpan.received_at,
                               StagedSpan.span))
            out.taken = [Taken(row.id, row.trace_id, row.span_id, _utc(row.received_at), row.span)
                         for row in s.execute(take)]
        return out

    def _expire(self, s: Session, moment: datetime) -> int:
        cutoff = moment - timedelta(seconds=self.staging_s)
        return changed(s.execute(delete(StagedSpan).where(StagedSpan.received_at < cutoff)))

    def _evict(self, s: Session) -> int:
        """Drop the oldest traces' spans, whole, while more than RAGMETER_OTLP_STAGING_SPANS are staged."""
        excess = (s.scalar(select(func.count()).select_from(StagedSpan)) or 0) - self.staging_spans
        if excess <= 0:
            return 0
        oldest = select(StagedSpan.tenant, StagedSpan.trace_id).order_by(StagedSpan.id).limit(excess)
        return changed(s.execute(delete(StagedSpan).where(
            tuple_(StagedSpan.tenant, StagedSpan.trace_id).in_(oldest.scalar_subquery()))))

    def expired(self, taken: list[Taken]) -> list[Taken]:
        """The taken spans staged longer than RAGMETER_OTLP_STAGING_S (no sweep dropped them yet)."""
        cutoff = self.clock() - timedelta(seconds=self.staging_s)
        return [t for t in taken if t.received_at < cutoff]

    def give_back(self, tenant: str | None, claimed: set[str], taken: list[Taken]) -> None:
        """Undo a claim: its taken spans staged again as they were (same ids, same time), the traces not done."""
        key = tenant or OPEN_TENANT
        with self.store.begin() as s:
            if taken:
                s.execute(self.dialect.insert(StagedSpan).on_conflict_do_nothing(),
                          [{"id": t.id, "tenant": key, "trace_id": t.trace_id, "span_id": t.span_id,
                            "received_at": t.received_at, "span": t.span} for t in taken])
            if claimed:
                s.execute(delete(DoneTrace).where(DoneTrace.tenant == key, DoneTrace.trace_id.in_(claimed)))

    def sweep(self) -> tuple[int, int]:
        """Drop spans staged longer than RAGMETER_OTLP_STAGING_S, then the oldest traces' beyond the limit, and
        forget traces done as long ago; (spans expired, spans evicted)."""
        moment = self.clock()
        with self.store.begin() as s:
            expired = self._expire(s, moment)
            evicted = self._evict(s)
            s.execute(delete(DoneTrace).where(DoneTrace.done_at < moment - timedelta(seconds=self.staging_s)))
        return expired, evicted

    def count(self) -> int:
        """Spans staged now, every tenant's."""
        with self.store.session() as s:
            return s.scalar(select(func.count()).select_from(StagedSpan)) or 0
