"""Retention of production records: hours older than RAGMETER_RECORD_RETENTION_DAYS are rolled up, then deleted.

Each hour is rolled up and its records deleted in ONE transaction, so a crash leaves either both done or
neither: a record is counted in a roll-up exactly when it is gone. A record that arrives or finishes scoring
late (its hour already rolled up) is added to that hour's roll-up by a later sweep. Pending records are never
deleted: they are rolled up once scored. Per app, hour and metric a `Rollup` row keeps count, sum, sum of
squares and a 20-bin histogram with each bin's smallest and largest value; the `records` row counts the hour's
finished records (total: the errors).
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from functools import partial

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ragmeter.service.rows import RowStatus
from ragmeter.service.server.batches.store import Store, now
from ragmeter.service.server.sweeps import repeat, run_once
from ragmeter.service.server.traffic.buckets import (BINS, bin_extremes, extremes, hist20, merge_bins,
                                                     stored_extremes)
from ragmeter.service.server.traffic.monitor import FINISHED, HOUR_S, RECORDS, rollup_tenant
from ragmeter.service.server.traffic.tables import PASS_RATE, WATCHED, Record, Rollup

log = logging.getLogger("ragmeter.traffic")
SWEEP_EVERY_S = 3600.0
DELETE_CHUNK = 500


def hour_of(ts: datetime) -> datetime:
    ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def roll_up_hour(session: Session, hour: datetime) -> int:
    """Adds the hour's finished records to its roll-ups and deletes them, in the caller's transaction; how many."""
    columns = [Record.id, Record.tenant, Record.app, Record.status, *(getattr(Record, m) for m in WATCHED),
               Record.gate_passed]
    stmt = (select(*columns).where(Record.ts >= hour, Record.ts < hour + timedelta(seconds=HOUR_S),
                                   Record.status.in_(FINISHED))
            .with_for_update(skip_locked=True))  # PostgreSQL: another replica's sweep skips rows this one holds
    per_app: dict[tuple[str, str], list] = defaultdict(list)
    for row in session.execute(stmt):
        per_app[(rollup_tenant(row.tenant), row.app)].append(row)
    for (tenant, app), rows in per_app.items():
        errors = sum(r.status == RowStatus.ERROR.value for r in rows)
        _add(session, (tenant, app, hour, RECORDS), len(rows), float(errors), float(errors), None)
        for i, metric in enumerate((*WATCHED, PASS_RATE)):
            values = np.array([float(v) for r in rows if (v := r[4 + i]) is not None], dtype=float)
            if len(values):
                _add(session, (tenant, app, hour, metric), len(values), float(values.sum()),
                     float((values * values).sum()), values)
    ids = [r.id for rows in per_app.values() for r in rows]
    for start in range(0, len(ids), DELETE_CHUNK):
        session.execute(delete(Record).where(Record.id.in_(ids[start:start + DELETE_CHUNK])))
    return len(ids)


def _add(session: Session, key: tuple, count: int, total: float, total_sq: float,
         values: np.ndarray | None) -> None:
    """Add to the key's roll-up (or start it): the sums, and with `values` their histogram and bins' extremes."""
    counts = hist20(values) if values is not None else np.zeros(BINS, dtype=int)
    low, high = bin_extremes(values) if values is not None else (np.full(BINS, np.nan), np.full(BINS, np.nan))
    row = session.get(Rollup, key, with_for_update=True)
    if row is None:
        tenant, app, hour, metric = key
        session.add(Rollup(tenant=tenant, app=app, hour=hour, metric=metric, count=count, total=total,
                           total_sq=total_sq, hist=[int(h) for h in counts], bin_low=stored_extremes(low),
                           bin_high=stored_extremes(high)))
        session.flush()  # a second app's or a late record's roll-up of the same key finds it
        return
    hist, row_low, row_high = np.asarray(row.hist, dtype=int), extremes(row.bin_low), extremes(row.bin_high)
    merge_bins(hist, row_low, row_high, counts, low, high)  # a bin of a roll-up made before 0005 stays unknown
    row.count += count
    row.total += total
    row.total_sq += total_sq
    row.hist = [int(h) for h in hist]
    row.bin_low, row.bin_high = stored_extremes(row_low), stored_extremes(row_high)


def expire_records(store: Store, days: float, clock=now) -> int:
    """Rolls up and deletes every finished record of the hours that ended more than `days` days ago; how many."""
    cutoff = hour_of(clock() - timedelta(days=days))
    done = 0
    after: datetime | None = None
    while True:
        with store.session() as s:
            stmt = select(func.min(Record.ts)).where(Record.ts < cutoff, Record.status.in_(FINISHED))
            first = s.scalar(stmt.where(Record.ts >= after) if after is not None else stmt)
        if first is None:
            return done
        hour = hour_of(first)
        with store.begin() as s:  # the hour's roll-up and deletion commit together, or neither does
            done += roll_up_hour(s, hour)
        after = hour + timedelta(seconds=HOUR_S)


async def sweep_once(store: Store, days: float) -> None:
    """`expire_records` off the event loop; a failure is logged and the next sweep tries again."""
    n = await run_once(partial(expire_records, store, days), log,
                       f"rolling up records older than RAGMETER_RECORD_RETENTION_DAYS={days:g} failed")
    if n:
        log.info("retention: %d records older than RAGMETER_RECORD_RETENTION_DAYS=%g rolled up and deleted", n, days)


async def sweep(store: Store, days: float, every_s: float = SWEEP_EVERY_S) -> None:
    """Sweep every `every_s` seconds until cancelled (the start-up sweep is `sweep_once`)."""
    await repeat(every_s, partial(sweep_once, store, days))
