"""Time-bucketed aggregates of production records: per watched metric and the gate pass rate, per bucket the
count, mean, p10 and a 95% interval; sliced by metadata; raw records where kept, hourly roll-ups past retention.

The mean's interval is Student's t from the count, sum and sum of squares, so a bucket read from roll-ups has the
same interval as it had from its raw records; the pass rate's is Wilson's. The database computes the buckets
(buckets.py): p10 comes from a 20-bin histogram, within 0.05 of the exact p10 (much closer from raw records,
whose bins' smallest and largest values are known; see buckets.py), also where part of a bucket was rolled up
(`rolled_up` says so). Slices filter and group on the metadata's JSON in SQL.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ragmeter.service.rows import RowStatus
from ragmeter.service.server.traffic.buckets import Agg, aggregate, meta_text
from ragmeter.service.server.traffic.tables import PASS_RATE, WATCHED, Record, Rollup

SERIES = (*WATCHED, PASS_RATE)
FINISHED = (RowStatus.SCORED.value, RowStatus.ERROR.value)
RECORDS = "records"  # the roll-up row that counts an hour's finished records (total: how many were errors)
HOUR_S = 3600
# Bucket sizes offered by the automatic choice: the smallest giving at most TARGET_BUCKETS buckets.
AUTO_BUCKETS_S = (60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)
TARGET_BUCKETS = 100
MAX_BUCKETS = 2000


class Bucket(BaseModel):
    start: datetime
    count: int = Field(description="Values in the bucket (for the pass rate: records with a gate verdict).")
    nulls: int = Field(description="Finished records in the bucket without a value: a null score or an error.")
    mean: float | None = Field(description="Mean score, or the share of records whose gate passed.")
    p10: float | None = Field(description="10th percentile of the scores, from a 20-bin histogram with each bin's "
                                          "smallest and largest score (within 0.05, usually far closer); null for "
                                          "the pass rate.")
    ci95: tuple[float, float] | None = Field(description="95% interval of the mean (t) or pass rate (Wilson); "
                                                         "null below two values.")
    rolled_up: bool = Field(False, description="Part of the bucket was read from hourly roll-ups (which keep the "
                                               "histogram with each bin's smallest and largest score; roll-ups made "
                                               "before ragmeter kept those give p10 within 0.05).")


class Series(BaseModel):
    metric: str
    group: str | None = Field(None, description="The group_by field's value of this series; null when not grouped.")
    count: int = Field(description="Values over the whole window.")
    buckets: list[Bucket]


class SeriesResult(BaseModel):
    app: str
    start: datetime
    end: datetime
    bucket_s: int
    where: dict[str, str]
    group_by: str | None
    series: list[Series]
    groups_left_out: int = Field(0, description="group_by values past the top N (by count) not shown.")
    notes: list[str] = []


@dataclass
class Query:
    tenant: str | None
    app: str
    start: datetime
    end: datetime
    bucket_s: int
    metrics: tuple[str, ...] = SERIES
    where: dict[str, str] = field(default_factory=dict)
    group_by: str | None = None
    top: int = 5


def auto_bucket(span_s: float) -> int:
    """The smallest offered bucket size that cuts `span_s` seconds into at most TARGET_BUCKETS buckets."""
    return next((b for b in AUTO_BUCKETS_S if span_s / b <= TARGET_BUCKETS), AUTO_BUCKETS_S[-1])


def tenant_is(column: Any, tenant: str | None) -> ColumnElement[bool]:
    return column.is_(None) if tenant is None else column == tenant


def rollup_tenant(tenant: str | None) -> str:
    return tenant or ""


def series(session: Session, q: Query) -> SeriesResult:
    """The query's series: one per metric (and group_by value, top N by count), each a list of buckets."""
    origin = int(_epoch(q.start)) // q.bucket_s * q.bucket_s
    count = max(1, -(-(int(_epoch(q.end)) - origin) // q.bucket_s))
    starts = [datetime.fromtimestamp(origin + i * q.bucket_s, UTC) for i in range(count)]
    dialect = session.get_bind().dialect.name
    sliced = bool(q.where or q.group_by)
    filters = [tenant_is(Record.tenant, q.tenant), Record.app == q.app, Record.ts >= q.start, Record.ts < q.end,
               Record.status.in_(FINISHED), *(meta_text(dialect, k) == v for k, v in q.where.items())]
    label = meta_text(dialect, q.group_by) if q.group_by else None
    rows, ranked = aggregate(session, q.metrics, filters, origin, q.bucket_s, label, q.top)
    groups: list[str | None] = [None] if label is None else list(ranked.top)
    aggs = {(g, m): [Agg() for _ in starts] for g in groups for m in q.metrics}
    for row in rows:
        if 0 <= row.bucket < count:
            aggs[(row.group, row.metric)][row.bucket].add_bin(row.bin, row.records, row.count, row.total,
                                                              row.total_sq, row.low, row.high)
    notes: list[str] = []
    rolled = _add_rollups(session, aggs, q, origin, count) if not sliced else 0
    if sliced and _has_rollups(session, q):
        notes.append("Part of this window is past RAGMETER_RECORD_RETENTION_DAYS: its raw records were rolled up "
                     "per app and hour, without metadata, so this slice covers only the records still kept.")
    if rolled:
        notes.append(f"{rolled} hours of this window were read from hourly roll-ups (raw records deleted by "
                     "retention): counts, means and intervals as before deletion, p10 from a 20-bin histogram.")
    if q.bucket_s < HOUR_S and rolled:
        notes.append("Roll-ups are hourly: each rolled-up hour is counted in the bucket where it starts.")
    out = [Series(metric=m, group=g, count=sum(a.n for a in aggs[(g, m)]),
                  buckets=[Bucket(start=s, **a.stats(m == PASS_RATE)) for a, s in zip(aggs[(g, m)], starts,
                                                                                     strict=True)])
           for g in groups for m in q.metrics]
    return SeriesResult(app=q.app, start=q.start, end=q.end, bucket_s=q.bucket_s, where=q.where, group_by=q.group_by,
                        series=out, groups_left_out=ranked.left_out, notes=notes)


def _epoch(ts: datetime) -> float:
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).timestamp()


def _rollup_query(q: Query):
    return select(Rollup).where(Rollup.tenant == rollup_tenant(q.tenant), Rollup.app == q.app,
                                Rollup.hour >= q.start - timedelta(seconds=HOUR_S - 1), Rollup.hour < q.end)


def _has_rollups(session: Session, q: Query) -> bool:
    return session.execute(_rollup_query(q).limit(1)).first() is not None


def _add_rollups(session: Session, aggs: dict, q: Query, origin: int, count: int) -> int:
    """Adds the window's roll-ups to the buckets their hour starts in; how many hours were rolled up."""
    hours = set()
    for r in session.scalars(_rollup_query(q).where(Rollup.metric.in_([*q.metrics, RECORDS]))):
        b = int((_epoch(r.hour) - origin) // q.bucket_s)
        if not 0 <= b < count:
            continue
        hours.add(r.hour)
        if r.metric == RECORDS:
            for m in q.metrics:
                aggs[(None, m)][b].records += r.count
        else:
            aggs[(None, r.metric)][b].add_rollup(r.count, r.total, r.total_sq, r.hist, r.bin_low, r.bin_high)
    return len(hours)


class AppSummary(BaseModel):
    app: str
    records: int = Field(description="Records kept plus those rolled up by retention.")
    last_seen: datetime | None = Field(description="The newest record's timestamp.")


def apps(session: Session, tenant: str | None) -> list[AppSummary]:
    """The tenant's apps, most recently seen first, with how many records each sent and when last."""
    found: dict[str, AppSummary] = {}
    kept = select(Record.app, func.count(), func.max(Record.ts)).where(tenant_is(Record.tenant, tenant))
    for app, n, last in session.execute(kept.group_by(Record.app)):
        found[app] = AppSummary(app=app, records=n, last_seen=_aware(last))
    rolled = (select(Rollup.app, func.sum(Rollup.count), func.max(Rollup.hour))
              .where(Rollup.tenant == rollup_tenant(tenant), Rollup.metric == RECORDS).group_by(Rollup.app))
    for app, n, last in session.execute(rolled):
        mine = found.setdefault(app, AppSummary(app=app, records=0, last_seen=None))
        mine.records += int(n or 0)
        hour = _aware(last)
        end = hour + timedelta(seconds=HOUR_S) if hour is not None else None
        mine.last_seen = max([t for t in (mine.last_seen, end) if t is not None], default=None)
    epoch = datetime.min.replace(tzinfo=UTC)
    return sorted(found.values(), key=lambda a: (a.last_seen or epoch, a.app), reverse=True)


def _aware(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


class FailedClaim(BaseModel):
    claim: str
    verdict: str
    evidence: str = Field("", description="The context's words the judge quoted (for a contradicted claim).")
    reason: str = ""
    context_index: int | None = None


class Failure(BaseModel):
    id: str
    app: str
    ts: datetime
    trace_id: str | None
    question: str
    answer: str
    contexts: list[str]
    metadata: dict
    scores: dict[str, float | None]
    hallucination_score: float | None
    failed_rules: list[str]
    claims: list[FailedClaim] = Field(description="The answer's claims the contexts do not support or contradict.")


def failures(session: Session, tenant: str | None, app: str | None, limit: int) -> list[Failure]:
    """The latest records whose gate failed (of one app, or all of the tenant's), newest first."""
    stmt = select(Record).where(tenant_is(Record.tenant, tenant), Record.status == RowStatus.SCORED.value,
                                Record.gate_passed.is_(False))
    if app is not None:
        stmt = stmt.where(Record.app == app)
    return [_failure(r) for r in session.scalars(stmt.order_by(Record.ts.desc()).limit(limit))]


def _failure(record: Record) -> Failure:
    result = record.result or {}
    gate = result.get("gate") or {}
    claims = ((result.get("details") or {}).get("faithfulness") or {}).get("claims") or []
    unbacked = [FailedClaim(**{k: c.get(k) for k in ("claim", "verdict", "evidence", "reason", "context_index")
                               if c.get(k) is not None}) for c in claims if c.get("verdict") != "supported"]
    if not unbacked:  # judges that give no claim details still name the gate's unsupported claims
        unbacked = [FailedClaim(claim=c, verdict="unsupported") for c in gate.get("unsupported_claims") or []]
    sample = record.sample or {}
    return Failure(id=record.id, app=record.app, ts=_aware(record.ts) or record.ts, trace_id=record.trace_id,
                   question=sample.get("user_input") or "", answer=sample.get("response") or "",
                   contexts=sample.get("retrieved_contexts") or [], metadata=record.meta or {},
                   scores={m: getattr(record, m) for m in WATCHED},
                   hallucination_score=gate.get("hallucination_score"), failed_rules=gate.get("failed_rules") or [],
                   claims=unbacked)
