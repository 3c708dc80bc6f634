"""What the record runner's database work costs per record: a claim and its result written, SQLite or PostgreSQL.

    python bench/record_store_cost.py [--pg] [--records 400] [--per-claim 1]

Stores --records pending records (small ones, as bench/ingest_drill.py sends), then claims them --per-claim at
a time and writes each one's result (a real SampleResult), as the runner does, and prints the milliseconds per
record, once with an empty and once with a warm process. This is the work a scoring process does in its request
threads beside requests storing new records: it holds the GIL and, on SQLite, the one write lock.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from ragmeter.metrics import GateConfig, Sample, SampleResult, evaluate
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drill_service import fresh_database  # noqa: E402
from ingest_drill import records  # noqa: E402

from ragmeter.service.server.batches.store import Store  # noqa: E402
from ragmeter.service.server.traffic.store import NewRecord, RecordStore  # noqa: E402


def result() -> SampleResult:
    """A real result to write: one of the drill's records scored by the embedded judge."""
    row = records(1)[0]
    sample = Sample.model_validate({k: row[k] for k in ("user_input", "retrieved_contexts", "response")})
    return asyncio.run(evaluate([sample], judge=EmbeddedJudge()))[0]


def run(url: str, n: int, per_claim: int) -> None:
    store = RecordStore(Store(url))
    new = [NewRecord(sample=Sample.model_validate({k: r[k] for k in ("user_input", "retrieved_contexts", "response")}),
                     app="bench") for r in records(n)]
    store.add(None, new, ["faithfulness", "answer_relevancy"], GateConfig())
    scored = result()
    for label in ("first pass", "second pass"):
        started, done = time.perf_counter(), 0
        while done < n // 2:
            got = store.claim("bench", per_claim, 60)
            store.finish_many([(r.id, scored, None) for r in got], owner="bench")
            done += len(got)
        print(f"  {label}: {(time.perf_counter() - started) / done * 1000:.2f} ms per record "
              f"(claim {per_claim} at a time, then its results)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", action="store_true")
    parser.add_argument("--records", type=int, default=400)
    parser.add_argument("--per-claim", type=int, default=1)
    args = parser.parse_args()
    with fresh_database(args.pg) as url:
        print("PostgreSQL:" if args.pg else "SQLite:")
        run(url, args.records, args.per_claim)

if __name__ == "__main__":
    main()
