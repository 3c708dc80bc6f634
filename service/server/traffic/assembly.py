"""Whole traces out of export requests: a trace's spans may come in several requests, its root usually last.

Exporters' batch processors export spans as they end, and a parent ends after its children, so a trace's
root span arrives in the same request as its children or in a later one. Spans whose trace has no root yet
wait here, in memory, per tenant and trace, until the root comes (then the trace is mapped), for at most
RAGMETER_OTLP_STAGING_S seconds and RAGMETER_OTLP_STAGING_SPANS spans in all (then the oldest are dropped
and counted). What waits here is lost at restart and is not shared between replicas; a trace whose root has
arrived is mapped and handed to `accept` at once, which stores it durably before the exporter gets its answer.
"""
from __future__ import annotations

import logging
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter

from ragmeter.service.server.traffic.ingest import RecordIn
from ragmeter.service.server.traffic.otlp import SpanView
from ragmeter.service.server.traffic.spans import REASONS, Unmapped, map_trace

# Reasons besides spans.REASONS, for spans never mapped at all.
EXPIRED, EVICTED, LATE, FAILED = "root_never_arrived", "staging_full", "after_root", "mapping_failed"
NOTES = {**REASONS, LATE: "arrived after its trace's root span had been mapped",
         FAILED: "mapping it failed (logged by ragmeter.otlp)"}
# Traces mapped recently, remembered so a straggler span is reported at once rather than staged to expire.
DONE_REMEMBERED = 10_000

log = logging.getLogger("ragmeter.otlp")
Key = tuple[str | None, str]  # tenant, trace id


@dataclass
class Collected:
    """What one export request came to: records to accept, spans rejected by reason, and spans taken from staging."""

    records: list[RecordIn] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    taken: dict[Key, list[SpanView]] = field(default_factory=dict)

    def message(self) -> str:
        """partial_success's error_message: how many spans for each reason."""
        return "; ".join(f"{n} span{'s' * (n != 1)} not turned into a record: {NOTES.get(reason, reason)}"
                         for reason, n in sorted(self.rejected.items()))


@dataclass
class _Waiting:
    since: float
    spans: list[SpanView]


class TraceAssembler:
    """Groups spans by trace, keeps rootless ones waiting, maps whole traces; counts every unmapped span."""

    def __init__(self, registry: CollectorRegistry, staging_s: float, staging_spans: int,
                 clock: Callable[[], float] = time.monotonic):
        self.staging_s, self.staging_spans, self.clock = staging_s, staging_spans, clock
        self.waiting: OrderedDict[Key, _Waiting] = OrderedDict()
        self.done: OrderedDict[Key, None] = OrderedDict()
        self.staged = 0
        self.unmapped = PromCounter("ragmeter_otlp_spans_unmapped_total",
                                    "OTLP spans not turned into a record, by reason.", ["reason"], registry=registry)
        self.spans = PromCounter("ragmeter_otlp_spans_received_total", "OTLP spans received at /v1/traces.",
                                 registry=registry)
        self.records = PromCounter("ragmeter_otlp_records_total", "Records made from OTLP traces.",
                                   registry=registry)

    def collect(self, tenant: str | None, spans: list[SpanView]) -> Collected:
        """Map every trace of `spans` whose root is here (with its waiting spans); keep the rest waiting."""
        self.spans.inc(len(spans))
        self._expire()
        out = Collected()
        traces: dict[str, list[SpanView]] = {}
        for span in spans:
            traces.setdefault(span.trace_id, []).append(span)
        for trace_id, members in traces.items():
            key = (tenant, trace_id)
            if key in self.done:
                out.rejected[LATE] += len(members)
            elif not any(s.is_root for s in members):
                self._stage(key, members)
            else:
                earlier = self._take(key)
                if earlier:
                    out.taken[key] = earlier
                whole = list({s.span_id: s for s in earlier + members}.values())  # a retried request repeats
                try:
                    mapped = map_trace(whole)
                except Exception:  # a shape no test foresaw: counted and logged, never a 500 to the exporter
                    log.exception("could not map trace %s", trace_id)
                    mapped = Unmapped(FAILED)
                if isinstance(mapped, Unmapped):
                    out.rejected[mapped.reason] += len(whole)
                else:
                    out.records.append(mapped)
                self._remember(key)
        for reason, n in out.rejected.items():
            self.unmapped.labels(reason).inc(n)
        self.records.inc(len(out.records))
        return out

    def undo(self, tenant: str | None, out: Collected) -> None:
        """Put back what `collect` took, when its records could not be accepted (the exporter will retry)."""
        for key, spans in out.taken.items():
            self._stage(key, spans)
        for record in out.records:
            self.done.pop((tenant, record.trace_id or ""), None)

    def _stage(self, key: Key, spans: list[SpanView]) -> None:
        waiting = self.waiting.get(key)
        if waiting is None:
            waiting = self.waiting[key] = _Waiting(self.clock(), [])
        known = {s.span_id for s in waiting.spans}
        fresh = [s for s in spans if s.span_id not in known]  # an exporter's retry sends the same spans again
        waiting.spans += fresh
        self.staged += len(fresh)
        while self.staged > self.staging_spans and self.waiting:
            _, oldest = self.waiting.popitem(last=False)
            self.staged -= len(oldest.spans)
            self.unmapped.labels(EVICTED).inc(len(oldest.spans))

    def _take(self, key: Key) -> list[SpanView]:
        waiting = self.waiting.pop(key, None)
        if waiting is None:
            return []
        self.staged -= len(waiting.spans)
        return waiting.spans

    def _expire(self) -> None:
        deadline = self.clock() - self.staging_s
        while self.waiting:
            key, oldest = next(iter(self.waiting.items()))
            if oldest.since > deadline:
                break
            self._take(key)
            self.unmapped.labels(EXPIRED).inc(len(oldest.spans))

    def _remember(self, key: Key) -> None:
        self.done[key] = None
        if len(self.done) > DONE_REMEMBERED:
            self.done.popitem(last=False)
