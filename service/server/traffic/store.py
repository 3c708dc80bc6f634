"""Durable production records: added in one transaction per request, scored under leases, read back per tenant.

The same leases as batch rows (batches/store.py): a process scoring a pending record holds it (owner, expiry),
renews while it scores, and a record whose owner died is claimed again once the lease lapses. A record is written
once: only while it is pending and its lease is still the writer's. `RecordStore` shares the batch store's engine
(one database, one schema); `AsyncRecordStore` runs each call in a worker thread.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from datetime import datetime, timedelta
from typing import Any

from ragmeter.metrics import GateConfig, Sample, SampleResult
from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ragmeter.service.rows import RowStatus
from ragmeter.service.server.batches.store import Store, changed, now
from ragmeter.service.server.traffic.tables import DEFAULT_APP, WATCHED, Record, scored_columns

# Work done in the records' own transaction, before they are inserted (a Session -> None).
Within = Callable[[Session], None]
# The claim ring's position after open mode's tenant (NULL): sorts before (or is) the first tenant name.
OPEN_TURN = ""


@cache
def _claim(turn: str) -> Any:
    """The UPDATE that leases the oldest free record of the first tenant (by name) a turn allows: "after" (named
    after :after), "open" (open mode's NULL) or "named" (any name); :moment, :owner and :until bound per claim.

    Built once per turn, not per claim: building it was most of a claim's cost (SQLAlchemy's Python, under the
    GIL that requests storing records wait for). As Store.claim: a CTE with SKIP LOCKED on PostgreSQL (another
    replica's claim is passed over, and the LIMIT is applied once); SQLite has one writer at a time, so there
    the UPDATE alone is atomic. Ordered by the index ix_records_status_tenant_received: no sort."""
    moment = bindparam("moment", type_=Record.lease_until.type)
    free = or_(Record.lease_until.is_(None), Record.lease_until < moment)
    allowed = {"after": Record.tenant > bindparam("after", type_=Record.tenant.type),
               "open": Record.tenant.is_(None), "named": Record.tenant.is_not(None)}[turn]
    chosen = (select(Record.id).where(Record.status == RowStatus.PENDING, allowed, free)
              .order_by(Record.tenant, Record.received_at).limit(1)
              .with_for_update(skip_locked=True).cte("chosen"))
    return (update(Record).where(Record.id == chosen.c.id, Record.status == RowStatus.PENDING, free)
            .values(lease_owner=bindparam("owner", type_=Record.lease_owner.type),
                    lease_until=bindparam("until", type_=Record.lease_until.type), attempts=Record.attempts + 1)
            .returning(Record).execution_options(synchronize_session=False))


@cache
def _finish(with_result: bool, with_owner: bool) -> Any:
    """The UPDATE that writes one record's outcome while it is pending (and, `with_owner`, still :owner's), built
    once per shape like the claims; `with_result` also sets the result and its watched columns."""
    where = [Record.id == bindparam("record_id"), Record.status == RowStatus.PENDING]
    if with_owner:
        where.append(Record.lease_owner == bindparam("owner"))
    values: dict[str, Any] = {"status": bindparam("status", type_=Record.status.type),
                              "error": bindparam("error", type_=Record.error.type), "lease_owner": None,
                              "lease_until": None, "scored_at": bindparam("scored_at", type_=Record.scored_at.type)}
    if with_result:
        values["result"] = bindparam("result", type_=Record.result.type)
        values |= {name: bindparam(name, type_=Record.__table__.c[name].type) for name in (*WATCHED, "gate_passed")}
    return update(Record).where(*where).values(**values).execution_options(synchronize_session=False)


@dataclass(frozen=True)
class NewRecord:
    """One record to store: its sample, where and when it came from, how to score it."""

    sample: Sample
    app: str = DEFAULT_APP
    ts: datetime | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class Added:
    """What `add` did: each record's stored id in input order, and how many were already stored (duplicates)."""

    ids: list[str]
    duplicates: int


def dedupe_key(tenant: str | None, app: str, caller_id: str | int | None) -> str | None:
    """The key a retried send of the same record repeats: a hash of tenant, app and the caller's id (any length,
    any characters, no separator to confuse); None without a caller's id (such records are never deduplicated)."""
    if caller_id is None:
        return None
    return hashlib.sha256(json.dumps([tenant, app, str(caller_id)]).encode()).hexdigest()


class RecordStore:
    def __init__(self, store: Store):
        """Records in the batch store's database (its engine, sessions and clock)."""
        self.store = store
        self.session = store.session
        self.dialect = store.engine.dialect.name
        self._after: str | None = None  # the tenant whose record this process claimed last (OPEN_TURN: NULL's)

    def add(self, tenant: str | None, records: list[NewRecord], metrics: list[str], gate: GateConfig,
            within: Within | None = None) -> Added:
        """Store the records as pending in one transaction; a record whose key is already stored is not stored
        again (its earlier id is reported). `within(session)` runs first in that transaction (OTLP: the traces'
        claims); nothing is stored when the transaction fails or it raises."""
        received = now()
        gate_json = gate.model_dump(mode="json")
        rows: list[dict[str, Any]] = []
        for record in records:
            key = dedupe_key(tenant, record.app, record.sample.id)
            rows.append({"id": str(uuid.uuid4()), "tenant": tenant, "app": record.app, "ts": record.ts or received,
                         "received_at": received, "trace_id": record.trace_id, "dedupe_key": key,
                         "sample": record.sample.model_dump(mode="json"), "meta": dict(record.sample.metadata),
                         "metrics": list(metrics), "gate": gate_json, "status": RowStatus.PENDING, "attempts": 0})
        fresh = _unique(rows)  # a key twice in one request: the first is stored, the second is its duplicate
        with self.store.begin() as s:
            if within is not None:
                within(s)
            if fresh:
                s.execute(self._insert_new(), fresh)
            known = [row["dedupe_key"] for row in rows if row["dedupe_key"] is not None]
            query = select(Record.dedupe_key, Record.id).where(Record.dedupe_key.in_(known))
            stored: dict[str | None, str] = {key: rid for key, rid in s.execute(query)} if known else {}
        ours = {row["id"] for row in fresh}
        ids = [stored.get(row["dedupe_key"], row["id"]) for row in rows]
        new = len(set(ids) & ours)  # a key twice in this request maps both to one new id
        return Added(ids=ids, duplicates=len(rows) - new)

    def known(self, keys: list[str]) -> set[str]:
        """Which of these dedupe keys are stored already."""
        with self.session() as s:
            return set(s.scalars(select(Record.dedupe_key).where(Record.dedupe_key.in_(keys))))

    def _insert_new(self) -> Any:
        """INSERT that skips a row whose dedupe key is already stored (another request stored it first)."""
        dialect = postgresql if self.dialect == "postgresql" else sqlite
        return dialect.insert(Record).on_conflict_do_nothing(index_elements=["dedupe_key"])

    def claim(self, owner: str, limit: int, lease_s: float) -> list[Record]:
        """Lease up to `limit` pending records no live owner holds: each the oldest of the next tenant in turn
        (round robin), so that one tenant's flood never holds back another tenant's records."""
        claimed: list[Record] = []
        with self.store.begin() as s:
            while len(claimed) < limit:
                record = self._take_next(s, owner, lease_s)
                if record is None:
                    break
                claimed.append(record)
        return claimed

    def _take_next(self, s: Session, owner: str, lease_s: float) -> Record | None:
        """Lease the oldest free record of the tenant after the last one served; None when no tenant has one.
        The ring of tenants: open mode's (NULL) first, then the others by name, then back to the start."""
        after = self._after
        turns: list[tuple[str, dict[str, Any]]] = [("after", {"after": after})] if after is not None else []
        turns += [("open", {}), ("named", {})]  # the ring from its start
        for turn, where in turns:
            moment = self.store.clock()
            record = s.scalars(_claim(turn), {"moment": moment, "owner": owner,
                                               "until": moment + timedelta(seconds=lease_s), **where}).first()
            if record is not None:
                # Another thread of this process may claim at the same moment: at worst one tenant gets two
                # turns in a row, never a record twice (the UPDATE checks the lease).
                self._after = OPEN_TURN if record.tenant is None else record.tenant
                return record
        return None

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend every lease `owner` holds on a pending record; how many it holds."""
        with self.store.begin() as s:
            return changed(s.execute(update(Record).where(Record.lease_owner == owner,
                                                          Record.status == RowStatus.PENDING)
                                     .values(lease_until=self.store.clock() + timedelta(seconds=lease_s))))

    def release(self, owner: str, record_id: str | None = None) -> int:
        """Give up `owner`'s leases (all, or one record's) so that any process may claim those records at once."""
        where = [Record.lease_owner == owner, Record.status == RowStatus.PENDING]
        if record_id is not None:
            where.append(Record.id == record_id)
        with self.store.begin() as s:
            return changed(s.execute(update(Record).where(*where).values(lease_owner=None, lease_until=None)))

    def finish(self, record_id: str, result: SampleResult | None, error: str | None = None,
               owner: str | None = None) -> bool:
        """Write a record's result (or its error) once: only while it is pending and, with `owner`, still that
        owner's. True when this call wrote it."""
        return self.finish_many([(record_id, result, error)], owner)[0]

    def finish_many(self, outcomes: list[tuple[str, SampleResult | None, str | None]],
                    owner: str | None = None) -> list[bool]:
        """`finish` for several records in one transaction (one commit, not one per record); whether each was
        written."""
        written = []
        with self.store.begin() as s:
            for record_id, result, error in outcomes:
                if result is not None:
                    error = result.error_text()
                params: dict[str, Any] = {"record_id": record_id, "owner": owner, "error": error, "scored_at": now(),
                                          "status": RowStatus.SCORED if error is None else RowStatus.ERROR}
                if result is not None:
                    params |= {"result": result.model_dump(mode="json"), **scored_columns(result)}
                written.append(changed(s.execute(_finish(result is not None, owner is not None), params)) > 0)
        return written

    def backlog(self, tenant: str | None) -> int:
        """The tenant's records not yet scored (open mode: tenant None)."""
        mine = Record.tenant.is_(None) if tenant is None else Record.tenant == tenant
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Record)
                            .where(Record.status == RowStatus.PENDING, mine)) or 0

    def pending(self) -> int:
        """Records of every tenant not yet scored."""
        with self.session() as s:
            return s.scalar(select(func.count()).select_from(Record).where(Record.status == RowStatus.PENDING)) or 0

    def get(self, record_id: str, tenant: str | None = None) -> Record | None:
        """The record; None when there is none or it belongs to another tenant (tenant None: open mode, any)."""
        with self.session() as s:
            record = s.get(Record, record_id)
        return record if record is not None and (tenant is None or record.tenant == tenant) else None

    def page(self, tenant: str | None, app: str | None = None, status: str | None = None, limit: int = 50,
             before: Record | None = None, caller_id: str | None = None) -> list[Record]:
        """Records newest first (by timestamp, then id), after the record `before` when given; with `caller_id`,
        the one record the caller sent with that id in `app` (default "default")."""
        query = select(Record)
        if caller_id is not None:  # through the unique dedupe key's index, not a scan
            query = query.where(Record.dedupe_key == dedupe_key(tenant, app or DEFAULT_APP, caller_id))
        if tenant is not None:
            query = query.where(Record.tenant == tenant)
        if app is not None:
            query = query.where(Record.app == app)
        if status is not None:
            query = query.where(Record.status == status)
        if before is not None:
            query = query.where(or_(Record.ts < before.ts, and_(Record.ts == before.ts, Record.id < before.id)))
        with self.session() as s:
            return list(s.scalars(query.order_by(Record.ts.desc(), Record.id.desc()).limit(limit)))


def _unique(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows with each dedupe key once (the first); rows without a key all stay."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        key = row["dedupe_key"]
        if key is None or key not in seen:
            kept.append(row)
            if key is not None:
                seen.add(key)
    return kept


class AsyncRecordStore:
    """The record store for async code: each call runs in a worker thread, never on the event loop."""

    def __init__(self, store: RecordStore):
        self.sync = store

    async def add(self, tenant: str | None, records: list[NewRecord], metrics: list[str],
                  gate: GateConfig, within: Within | None = None) -> Added:
        return await asyncio.to_thread(self.sync.add, tenant, records, metrics, gate, within)

    async def claim(self, owner: str, limit: int, lease_s: float) -> list[Record]:
        return await asyncio.to_thread(self.sync.claim, owner, limit, lease_s)

    async def renew(self, owner: str, lease_s: float) -> int:
        return await asyncio.to_thread(self.sync.renew, owner, lease_s)

    async def release(self, owner: str, record_id: str | None = None) -> int:
        return await asyncio.to_thread(self.sync.release, owner, record_id)

    async def finish(self, record_id: str, result: SampleResult | None, error: str | None = None,
                     owner: str | None = None) -> bool:
        return await asyncio.to_thread(self.sync.finish, record_id, result, error, owner)

    async def finish_many(self, outcomes: list[tuple[str, SampleResult | None, str | None]],
                          owner: str | None = None) -> list[bool]:
        return await asyncio.to_thread(self.sync.finish_many, outcomes, owner)

    async def backlog(self, tenant: str | None) -> int:
        return await asyncio.to_thread(self.sync.backlog, tenant)

    async def get(self, record_id: str, tenant: str | None = None) -> Record | None:
        return await asyncio.to_thread(self.sync.get, record_id, tenant)

    async def known(self, keys: list[str]) -> set[str]:
        return await asyncio.to_thread(self.sync.known, keys)

    async def page(self, tenant: str | None, app: str | None = None, status: str | None = None, limit: int = 50,
                   before: Record | None = None, caller_id: str | None = None) -> list[Record]:
        return await asyncio.to_thread(self.sync.page, tenant, app, status, limit, before, caller_id)
