"""How fast the database grows with production records, and how long a 24 h monitoring query takes.

Inserts N realistic scored records (a real SampleResult from the stub judge, four metric columns, metadata)
into SQLite and PostgreSQL (a database it creates and drops), measures the database's size before and after,
rolls them all up (retention) and measures the roll-ups' size, then prints bytes per record and per million.
With --query it also times GET /v1/monitor/series's work over 24 h of the inserted records (best of 3): plain,
filtered on a metadata field, and grouped by one.

    .venv/bin/python bench/record_growth.py --records 100000 --query
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ragmeter.metrics import Sample, score_sample
from sqlalchemy import insert, text

from ragmeter.service.server.batches.store import Store
from ragmeter.service.server.traffic import rollups
from ragmeter.service.server.traffic.monitor import Query, series
from ragmeter.service.server.traffic.tables import WATCHED, Record

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' stub judge and sample
from tests.helpers import SAMPLE, StubJudge  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drill_service import fresh_database  # noqa: E402

CHUNK = 5000


def rows(n: int, end: datetime, span_h: float, apps: int):
    result = asyncio.run(score_sample(Sample(**SAMPLE), StubJudge())).model_dump(mode="json")
    rng = random.Random(0)
    for i in range(n):
        ts = end - timedelta(seconds=rng.random() * span_h * 3600)
        scores = {m: rng.random() for m in WATCHED}
        yield {"id": str(uuid.uuid4()), "tenant": None, "app": f"app{i % apps}", "ts": ts, "received_at": ts,
               "trace_id": uuid.uuid4().hex, "dedupe_key": None, "sample": SAMPLE,
               "meta": {"model": rng.choice(["gpt-4o", "claude", "llama"]), "prompt": f"v{rng.randint(1, 4)}"},
               "metrics": list(WATCHED), "gate": {}, "status": "scored", "result": result, "error": None,
               "attempts": 1, "scored_at": ts, "gate_passed": scores["faithfulness"] > 0.3, **scores}


def fill(store: Store, n: int, end: datetime, span_h: float, apps: int = 3) -> float:
    started = time.perf_counter()
    batch = []
    with store.engine.begin() as conn:
        for row in rows(n, end, span_h, apps):
            batch.append(row)
            if len(batch) == CHUNK:
                conn.execute(insert(Record), batch)
                batch = []
        if batch:
            conn.execute(insert(Record), batch)
    return time.perf_counter() - started


def size(store: Store, path: Path | None) -> int:
    if path is not None:
        with store.engine.connect() as conn:
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            conn.commit()
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM"))
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))  # in WAL mode the file shrinks only here
        return os.path.getsize(path)
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def _relation_size(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT pg_total_relation_size('{table}')")).scalar_one())


def timed_query(store: Store, end: datetime, where: dict[str, str] | None = None, group_by: str | None = None,
                repeat: int = 3) -> float:
    """The best of `repeat` runs (the development machine is shared: the best run is the least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with store.session() as s:
            result = series(s, Query(tenant=None, app="app0", start=end - timedelta(hours=24), end=end, bucket_s=900,
                                     where=where or {}, group_by=group_by))
        best = min(best, time.perf_counter() - started)
        assert result.series[0].count > 0
    return best


def measure(name: str, url: str, path: Path | None, n: int, query_n: int) -> None:
    store = Store(url)
    try:
        empty = size(store, path)
        end = datetime.now(UTC).replace(microsecond=0)
        seconds = fill(store, n, end - timedelta(days=30), span_h=24 * 7)  # a week, 30 days ago: past retention
        full = size(store, path)
        rolled = rollups.expire_records(store, days=7)
        after = size(store, path) if path is not None else empty + _relation_size(store, "record_rollups")
        hours = 24 * 7 * 3  # app-hours the records spread over: what the roll-ups grow with
        print(f"{name}: {n} records inserted in {seconds:.1f} s; raw records {(full - empty) / n:.0f} bytes each = "
              f"{(full - empty) / n * 1e6 / 2**30:.2f} GiB per million; rolled up {rolled} into roll-ups of "
              f"{max(0, after - empty)} bytes ({max(0, after - empty) / hours:.0f} bytes per app-hour, 6 rows; "
              f"independent of the records per hour)")
        if query_n:
            fill(store, query_n, end, span_h=24, apps=1)
            if path is None:  # as autovacuum would soon after such a burst: the planner's row counts
                with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("ANALYZE records"))
            plain = timed_query(store, end)
            sliced = timed_query(store, end, {"model": "gpt-4o"})
            grouped = timed_query(store, end, group_by="model")
            print(f"{name}: 24 h series (5 series, 96 buckets) over {query_n} records of one app, best of 3: "
                  f"{plain:.2f} s = {plain * 1e6 / query_n:.1f} s per million; with a metadata filter {sliced:.2f} s "
                  f"= {sliced * 1e6 / query_n:.1f} s per million; grouped by a metadata field {grouped:.2f} s "
                  f"= {grouped * 1e6 / query_n:.1f} s per million")
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--query", type=int, default=0, help="records (3 apps) to insert for the 24 h query timing")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "growth.db"
        measure("sqlite", f"sqlite:///{path}", path, args.records, args.query)
    if args.no_postgres:
        return
    with fresh_database(True, "ragmeter_growth") as url:
        measure("postgresql", url, None, args.records, args.query)

if __name__ == "__main__":
    main()
