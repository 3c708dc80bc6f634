"""OTLP spans waiting for their trace's root, in the database: durable once acknowledged, shared by replicas.

An export request reads and writes here in one transaction (`exchange`): it stages the rootless spans (a retried
export's are already there) and reads the staged spans of each trace whose root arrived. The trace is then
claimed (inserted into `otlp_done`) and its staged spans deleted by `settle`, in the same transaction that stores
its record: if two requests bring the same root, one claim wins and the other's transaction stores nothing
(`Lost`), and a process that dies before that commit leaves the spans staged for the exporter's retry. Rows older
than RAGMETER_OTLP_STAGING_S are dropped, and beyond RAGMETER_OTLP_STAGING_SPANS the oldest traces are: on the
request path at most once a second per process, and by `sweep`; a span read after its time is counted expired,
not mapped. Synchronous: the assembler's caller runs it in a worker thread.
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
class Staged:
    """A staged span read for its trace's root: its row id (deleted when the trace is settled) and when it came."""

    id: int
    trace_id: str
    received_at: datetime
    span: str


@dataclass
class Exchanged:
    """What one request's transaction found: rootless traces already done, rooted ones done (both late), the
    rooted traces' staged spans, and spans dropped."""

    late: set[str] = field(default_factory=set)
    staged: list[Staged] = field(default_factory=list)
    expired: int = 0
    evicted: int = 0


class Lost(Exception):
    """Another request claimed these traces first: nothing of this transaction is kept."""

    def __init__(self, traces: set[str]):
        super().__init__(f"traces claimed by another request: {sorted(traces)}")
        self.traces = traces


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
        """Stage `waiting` (spans of rootless traces); read the staged spans of the `rooted` traces not done yet."""
        for attempt in range(TRIES):
            try:
                # Only a request that stages writes: a root's reads take no write lock and commit nothing.
                with self.store.begin() if waiting else self.store.session() as s:
                    return self._exchange(s, tenant or OPEN_TENANT, waiting, sorted(set(rooted)))
            except OperationalError as exc:  # a deadlock rolled the whole transaction back: do it again
                if getattr(exc.orig, "sqlstate", None) != DEADLOCK or attempt == TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _exchange(self, s: Session, tenant: str, waiting: list[SpanView], rooted: list[str]) -> Exchanged:
        moment = self.clock()
        out = Exchanged()
        # Writes first: SQLite takes its write lock at the transaction's first statement (a read first could fail
        # with SQLITE_BUSY when upgraded).
        if waiting:
            s.execute(self.dialect.insert(StagedSpan).on_conflict_do_nothing(),
                      [{"tenant": tenant, "trace_id": span.trace_id, "span_id": span.span_id,
                        "received_at": moment, "span": dump(span)} for span in waiting])
            if time.monotonic() - self._checked >= self.check_every_s:
                self._checked = time.monotonic()
                out.expired = self._expire(s, moment)
                out.evicted = self._evict(s)
        traces = sorted({span.trace_id for span in waiting} | set(rooted))
        out.late = set(s.scalars(select(DoneTrace.trace_id).where(DoneTrace.tenant == tenant,
                                                                  DoneTrace.trace_id.in_(traces))))
        late_waiting = {span.trace_id for span in waiting} & out.late
        if late_waiting:  # their root was mapped already: these spans would only wait to expire
            s.execute(delete(StagedSpan).where(StagedSpan.tenant == tenant, StagedSpan.trace_id.in_(late_waiting)))
        wanted = [t for t in rooted if t not in out.late]
        if wanted:
            found = select(StagedSpan.id, StagedSpan.trace_id, StagedSpan.received_at, StagedSpan.span).where(
                StagedSpan.tenant == tenant, StagedSpan.trace_id.in_(wanted)).order_by(StagedSpan.id)
            out.staged = [Staged(row.id, row.trace_id, _utc(row.received_at), row.span) for row in s.execute(found)]
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

    def expired(self, staged: list[Staged]) -> list[Staged]:
        """The staged spans waiting longer than RAGMETER_OTLP_STAGING_S (no sweep dropped them yet)."""
        cutoff = self.clock() - timedelta(seconds=self.staging_s)
        return [t for t in staged if t.received_at < cutoff]

    def settle(self, tenant: str | None, staged: dict[str, list[int]], s: Session) -> None:
        """In the caller's transaction: claim the traces of `staged` as done and delete their staged spans (row
        ids); Lost (so the transaction stores nothing) when another request claimed any of them first."""
        if not staged:
            return
        key = tenant or OPEN_TENANT
        claim = (self.dialect.insert(DoneTrace)
                 .values([{"tenant": key, "trace_id": t, "done_at": self.clock()} for t in sorted(staged)])
                 .on_conflict_do_nothing().returning(DoneTrace.trace_id))
        won = set(s.scalars(claim))  # PostgreSQL: a concurrent claim of the same trace waits for the first's end
        if won != set(staged):
            raise Lost(set(staged) - won)
        if ids := [i for row_ids in staged.values() for i in row_ids]:
            s.execute(delete(StagedSpan).where(StagedSpan.id.in_(ids)))

    def settle_alone(self, tenant: str | None, staged: dict[str, list[int]]) -> set[str]:
        """`settle` in transactions of its own (traces that made no record to store); the traces another request
        claimed first."""
        lost: set[str] = set()
        while staged:
            try:
                with self.store.begin() as s:
                    self.settle(tenant, staged, s)
                break
            except Lost as exc:
                lost |= exc.traces
                staged = {t: ids for t, ids in staged.items() if t not in exc.traces}
        return lost

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
