"""Whole traces out of export requests: a trace's spans may come in several requests, its root usually last.

Exporters' batch processors export spans as they end, and a parent ends after its children, so a trace's
root span arrives in the same request as its children or in a later one. Spans whose trace has no root yet
wait in the database (staging.py), per tenant and trace, until the root comes to any replica (then the trace
is mapped there, once), for at most RAGMETER_OTLP_STAGING_S seconds and RAGMETER_OTLP_STAGING_SPANS spans in
all (then the oldest are dropped and counted). A span is staged before the exporter gets its 200, so it
survives a restart; a trace whose root has arrived is mapped and handed to `accept` at once, which stores it
durably, with the trace's claim and the deletion of its staged spans in the same transaction (`hand_over`),
before the exporter gets its answer.
"""
from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from fastapi import Request
from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from ragmeter.service.server.batches.store import Store, now
from ragmeter.service.server.sweeps import repeat, run_once
from ragmeter.service.server.traffic.ingest import Accepted, RecordIn
from ragmeter.service.server.traffic.otlp import SpanView
from ragmeter.service.server.traffic.spans import INVALID, REASONS, Unmapped, map_trace
from ragmeter.service.server.traffic.staging import CHECK_EVERY_S, Exchanged, Lost, SpanStaging, load

# Reasons besides spans.REASONS, for spans never mapped at all.
EXPIRED, EVICTED, LATE, FAILED = "root_never_arrived", "staging_full", "after_root", "mapping_failed"
NOTES = {**REASONS, LATE: "arrived after its trace's root span had been mapped",
         FAILED: "mapping it failed (logged by ragmeter.otlp)"}
MAX_ID_CHARS = 64  # the staging tables' id columns; OTLP's ids are 32 and 16 hex digits
SWEEP_MAX_S = 30.0

log = logging.getLogger("ragmeter.otlp")


@dataclass
class Collected:
    """What one export request came to: records to accept, spans rejected by reason, and per trace whose root
    arrived its staged spans' row ids (deleted when the trace is claimed) and how many spans this request had."""

    records: list[RecordIn] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    staged: dict[str, list[int]] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, str] = field(default_factory=dict)  # why a rooted trace made no record

    def message(self) -> str:
        """partial_success's error_message: how many spans for each reason."""
        return "; ".join(f"{n} span{'s' * (n != 1)} not turned into a record: {NOTES.get(reason, reason)}"
                         for reason, n in sorted(self.rejected.items()))


class TraceAssembler:
    """Groups spans by trace, stages rootless ones, maps whole traces; counts every unmapped span.

    Its calls are blocking database work: async code runs them in a worker thread."""

    def __init__(self, registry: CollectorRegistry, staging_s: float, staging_spans: int):
        self.staging_s, self.staging_spans = staging_s, staging_spans
        self.staging: SpanStaging | None = None
        self.unmapped = PromCounter("ragmeter_otlp_spans_unmapped_total",
                                    "OTLP spans not turned into a record, by reason.", ["reason"], registry=registry)
        self.spans = PromCounter("ragmeter_otlp_spans_received_total", "OTLP spans received at /v1/traces.",
                                 registry=registry)
        self.records = PromCounter("ragmeter_otlp_records_total", "Records made from OTLP traces.",
                                   registry=registry)

    def open(self, store: Store, clock: Callable[[], datetime] = now, check_every_s: float = CHECK_EVERY_S) -> None:
        """Stage in the store's database (`clock`, `check_every_s`: see SpanStaging)."""
        self.staging = SpanStaging(store, self.staging_s, self.staging_spans, clock, check_every_s)

    def collect(self, tenant: str | None, spans: list[SpanView]) -> Collected:
        """Map every trace of `spans` whose root is here (with its staged spans); stage the rest."""
        assert self.staging is not None, "TraceAssembler.open was not called"
        self.spans.inc(len(spans))
        out = Collected()
        traces: dict[str, list[SpanView]] = {}
        for span in spans:
            if len(span.trace_id) > MAX_ID_CHARS or len(span.span_id) > MAX_ID_CHARS:
                out.rejected[INVALID] += 1  # not an OTLP id: nothing could be keyed on it
            else:
                traces.setdefault(span.trace_id, []).append(span)
        rooted = {trace_id for trace_id, members in traces.items() if any(s.is_root for s in members)}
        waiting = [s for trace_id, members in traces.items() if trace_id not in rooted for s in members]
        done = self.staging.exchange(tenant, waiting, rooted) if traces else Exchanged()
        expired = {t.id for t in self.staging.expired(done.staged)}
        self.unmapped.labels(EXPIRED).inc(done.expired + len(expired))
        self.unmapped.labels(EVICTED).inc(done.evicted)
        earlier: dict[str, list[SpanView]] = {}
        for staged in done.staged:
            out.staged.setdefault(staged.trace_id, []).append(staged.id)  # an expired one is deleted all the same
            if staged.id not in expired:
                earlier.setdefault(staged.trace_id, []).append(load(staged.span))
        for trace_id, members in traces.items():
            if trace_id in done.late:
                out.rejected[LATE] += len(members)  # also a retried export of a trace already mapped
            elif trace_id in rooted:
                out.staged.setdefault(trace_id, [])
                # A retried request repeats spans; the one just received wins over the staged copy.
                whole = list({s.span_id: s for s in earlier.get(trace_id, []) + members}.values())
                out.sizes[trace_id] = len(members)  # if lost, only this request's spans are late
                try:
                    mapped = map_trace(whole)
                except Exception:  # a shape no test foresaw: counted and logged, never a 500 to the exporter
                    log.exception("could not map trace %s", trace_id)
                    mapped = Unmapped(FAILED)
                if isinstance(mapped, Unmapped):
                    out.rejected[mapped.reason] += len(whole)
                    out.reasons[trace_id] = mapped.reason
                else:
                    out.records.append(mapped)
        return out

    def lost(self, out: Collected, traces: set[str]) -> None:
        """Another request claimed these traces first: this request's spans of them are late, whatever it made of
        them (it may have read the staged spans after the other request took them), and their records dropped."""
        for trace_id in traces:
            if trace_id in out.reasons:
                out.rejected[out.reasons.pop(trace_id)] -= out.sizes[trace_id]
            out.rejected[LATE] += out.sizes.get(trace_id, 0)
        out.rejected = +out.rejected  # without the reasons left at zero
        out.records = [r for r in out.records if r.trace_id not in traces]

    def count(self, out: Collected) -> None:
        """Count the request's outcome in the Prometheus counters, once it is settled."""
        for reason, n in out.rejected.items():
            self.unmapped.labels(reason).inc(n)

    def sweep(self) -> int:
        """Drop expired spans and those beyond the limit (counted), forget traces done long ago; spans dropped."""
        assert self.staging is not None, "TraceAssembler.open was not called"
        expired, evicted = self.staging.sweep()
        self.unmapped.labels(EXPIRED).inc(expired)
        self.unmapped.labels(EVICTED).inc(evicted)
        return expired + evicted

    def every_s(self) -> float:
        """How often the periodic sweep runs: twice per staging period, at least every SWEEP_MAX_S seconds."""
        return min(self.staging_s / 2, SWEEP_MAX_S)


async def hand_over(assembler: TraceAssembler, request: Request, tenant: str | None, out: Collected,
                    accept: Callable[..., Awaitable[Accepted]]) -> None:
    """Accept `out`'s records, claiming their traces in the records' own transaction, then claim the traces that
    made no record; a trace another request claimed first is counted late. accept's refusals (429...) propagate
    with nothing claimed or deleted: the staged spans wait for the exporter's retry."""
    staging = assembler.staging
    assert staging is not None, "TraceAssembler.open was not called"
    recorded = {r.trace_id or "" for r in out.records}
    while out.records:
        claims = {t: out.staged.get(t, []) for t in {r.trace_id or "" for r in out.records}}
        try:
            await accept(request, tenant, out.records, within=partial(staging.settle, tenant, claims))
        except Lost as lost:  # the same root at two replicas at once: the other one stored the record
            assembler.lost(out, lost.traces)
            continue
        assembler.records.inc(len(out.records))
        break
    if rest := {t: ids for t, ids in out.staged.items() if t not in recorded}:
        assembler.lost(out, await asyncio.to_thread(staging.settle_alone, tenant, rest))
    assembler.count(out)


async def sweep_once(assembler: TraceAssembler) -> None:
    """`assembler.sweep` off the event loop; a failure is logged and the next sweep tries again."""
    await run_once(assembler.sweep, log, "dropping expired OTLP spans failed")


async def sweep(assembler: TraceAssembler) -> None:
    """Sweep every `assembler.every_s()` seconds until cancelled."""
    await repeat(assembler.every_s(), partial(sweep_once, assembler))
