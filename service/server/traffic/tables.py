"""The tables of production traffic: records, hourly roll-ups kept after retention, alert rules and alert events.

OTLP spans whose trace's root has not arrived wait in `otlp_spans` (any replica may receive the root), and the
traces mapped lately are remembered in `otlp_done` (a straggler span is reported at once; the root is taken once).

A record is one answer an app sent without waiting for its score (POST /v1/records, or a trace at /v1/traces).
It is `pending` until scored, leased while a process scores it, exactly as a batch row is. The four Ragas
metrics and the gate verdict are copied into their own columns when it is scored, so time-bucketed aggregates
read plain indexed columns instead of the result's JSON.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from ragmeter.metrics import SampleResult
from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, \
    UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ragmeter.service.rows import RowStatus
from ragmeter.service.server.batches.store import Base

# The metrics with a column of their own (monitoring, alerts, roll-ups); any other metric stays in `result`.
WATCHED = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")
# What a rule or a chart may watch besides those: the share of records whose gate passed.
PASS_RATE = "gate_pass_rate"
DEFAULT_APP = "default"
COVERED = ("status", *WATCHED, "gate_passed")


class Record(Base):
    __tablename__ = "records"
    # An app's records by time, covering what monitoring and alerts read (status, scores, gate): a series scans
    # this index alone instead of each record's row, whose scores sit behind kilobytes of JSON.
    # status+tenant+received_at: the runner claims each tenant's oldest pending record in turn without sorting the
    # backlog, and a tenant's backlog is counted on each POST /v1/records without reading its scored records.
    __table_args__ = (Index("ix_records_tenant_app_ts", "tenant", "app", "ts", *COVERED),
                      Index("ix_records_status_tenant_received", "status", "tenant", "received_at"),
                      # across apps by time: retention's oldest-hour search, the Prometheus window's scrape
                      Index("ix_records_ts", "ts"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True)
    app: Mapped[str] = mapped_column(String(128), default=DEFAULT_APP)
    # When the app answered (the record's timestamp, else when ragmeter received it): charts bucket by this.
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    trace_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # tenant, app and the caller's own id: a retried send of the same record is stored once.
    dedupe_key: Mapped[str | None] = mapped_column(String(400), nullable=True, unique=True)
    # The sample's metadata, sliced on by monitoring; before the large JSON columns, so that SQLite finds it in
    # a row's first page (the migration creates the columns in this order).
    meta: Mapped[dict] = mapped_column(JSON, default=dict)
    sample: Mapped[dict] = mapped_column(JSON)
    metrics: Mapped[list] = mapped_column(JSON)
    gate: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=RowStatus.PENDING)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    scored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    faithfulness: Mapped[float | None] = mapped_column(Float, nullable=True)
    answer_relevancy: Mapped[float | None] = mapped_column(Float, nullable=True)
    context_precision: Mapped[float | None] = mapped_column(Float, nullable=True)
    context_recall: Mapped[float | None] = mapped_column(Float, nullable=True)
    gate_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)


def scored_columns(result: SampleResult) -> dict[str, Any]:
    """The columns a scored record gets from its result: each watched metric's value (None when null) and the gate."""
    scores = result.scores.model_dump()
    return {**{name: scores.get(name) for name in WATCHED}, "gate_passed": result.gate.passed}


class Rollup(Base):
    """One hour of one app's records for one watched metric (or the pass rate): what charts read once the raw
    records are past retention. `hist` counts values in 20 equal bins of [0, 1]; `bin_low` and `bin_high` keep each
    bin's smallest and largest value (null for an empty bin, and the columns null in roll-ups made before 0005),
    so that p10 is read as closely as from the raw records."""
    __tablename__ = "record_rollups"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" in open mode (no keys)
    app: Mapped[str] = mapped_column(String(128), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    metric: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)  # sum of the values (passes, for the pass rate)
    total_sq: Mapped[float] = mapped_column(Float)
    hist: Mapped[list] = mapped_column(JSON)
    bin_low: Mapped[list | None] = mapped_column(JSON, nullable=True)
    bin_high: Mapped[list | None] = mapped_column(JSON, nullable=True)


class AlertRule(Base):
    __tablename__ = "alert_rules"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    name: Mapped[str] = mapped_column(String(128))
    app: Mapped[str | None] = mapped_column(String(128), nullable=True)  # None: every app of the tenant
    metric: Mapped[str] = mapped_column(String(32))  # a WATCHED metric or PASS_RATE
    slice: Mapped[dict] = mapped_column(JSON, default=dict)  # metadata field -> value, all must match
    window_s: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)  # breached when the window's mean is below it
    min_count: Mapped[int] = mapped_column(Integer)
    webhook_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)  # HMAC key of the webhook body
    state: Mapped[str] = mapped_column(String(16), default="ok")  # ok | firing
    state_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AlertEvent(Base):
    """A rule firing or recovering, and its webhook's delivery: an outbox, so a restart still delivers it."""
    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule_id: Mapped[str] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True)
    tenant: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # fired | recovered
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    count: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict] = mapped_column(JSON)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class StagedSpan(Base):
    """An OTLP span waiting for its trace's root span: what mapping reads (a SpanView) as compact JSON."""
    __tablename__ = "otlp_spans"
    # A retried export stages a span once; the constraint's index also finds a trace's spans.
    __table_args__ = (UniqueConstraint("tenant", "trace_id", "span_id", name="uq_otlp_spans_span"),)

    # Ascending in arrival order: the oldest spans are dropped first when staging is full.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    tenant: Mapped[str] = mapped_column(String(64))  # "" in open mode, so the constraint holds there too
    trace_id: Mapped[str] = mapped_column(String(64))
    span_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    span: Mapped[str] = mapped_column(Text)


class DoneTrace(Base):
    """A trace whose root arrived and which one request took to map, remembered for a while after."""
    __tablename__ = "otlp_done"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)  # "" in open mode
    trace_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    done_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
