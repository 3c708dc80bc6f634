"""Per-app Prometheus gauges of production records, computed from the database at each scrape.

Every figure covers the records of the last RAGMETER_MONITOR_WINDOW_S seconds (by their timestamp). Label
cardinality is bounded: at most RAGMETER_MONITOR_MAX_APPS (tenant, app) pairs get series, those with the most
records in the window; how many were left out is ragmeter_monitor_apps_omitted.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Integer, cast, func, select

from ragmeter.service.server.batches.store import Store, now
from ragmeter.service.server.traffic.tables import WATCHED, Record

log = logging.getLogger("ragmeter.traffic")


class RecordCollector(Collector):
    def __init__(self, store: Store, window_s: float, max_apps: int):
        self.store = store
        self.window_s = window_s
        self.max_apps = max_apps

    def describe(self) -> list[Metric]:
        return []  # gauges come from the database at scrape time; nothing to check at registration

    def collect(self) -> Iterator[Metric]:
        try:
            rows = self._read()
        except Exception:  # a scrape must answer even when the database does not
            log.exception("reading records for /metrics failed")
            return
        window = f"{self.window_s:g}s"
        score = GaugeMetricFamily("ragmeter_record_score", f"Mean score of the records of the last {window}, by "
                                  "app and metric (null scores left out).", labels=["tenant", "app", "metric"])
        scored = GaugeMetricFamily("ragmeter_record_score_count", f"Non-null scores of the last {window}.",
                                   labels=["tenant", "app", "metric"])
        rate = GaugeMetricFamily("ragmeter_record_gate_pass_rate", f"Share of the last {window}'s scored records "
                                 "whose gate passed.", labels=["tenant", "app"])
        records = GaugeMetricFamily("ragmeter_records", f"Records of the last {window} by status (pending, scored, "
                                    "error).", labels=["tenant", "app", "status"])
        per_app: dict[tuple[str, str], int] = defaultdict(int)
        for row in rows:
            per_app[(row.tenant or "", row.app)] += row.n
        kept = set(sorted(per_app, key=lambda k: (-per_app[k], k))[:self.max_apps])
        for row in rows:
            key = (row.tenant or "", row.app)
            if key not in kept:
                continue
            records.add_metric([*key, row.status], row.n)
            if row.status != "scored":
                continue
            for metric in WATCHED:
                n, total = getattr(row, f"{metric}_n"), getattr(row, f"{metric}_sum")
                scored.add_metric([*key, metric], n)
                if n:
                    score.add_metric([*key, metric], float(total) / n)
            if row.gate_n:
                rate.add_metric(list(key), float(row.gate_sum) / row.gate_n)
        omitted = GaugeMetricFamily("ragmeter_monitor_apps_omitted", "Apps with records in the window left out of "
                                    "the per-app series (past RAGMETER_MONITOR_MAX_APPS).",
                                    value=len(per_app) - len(kept))
        yield from (score, scored, rate, records, omitted)

    def _read(self) -> list:
        since = now() - timedelta(seconds=self.window_s)
        sums = [f for m in WATCHED for f in (func.count(getattr(Record, m)).label(f"{m}_n"),
                                               func.sum(getattr(Record, m)).label(f"{m}_sum"))]
        stmt = (select(Record.tenant, Record.app, Record.status, func.count().label("n"), *sums,
                       func.count(Record.gate_passed).label("gate_n"),
                       func.sum(cast(Record.gate_passed, Integer)).label("gate_sum"))
                .where(Record.ts >= since).group_by(Record.tenant, Record.app, Record.status))
        with self.store.session() as s:
            return list(s.execute(stmt))
