"""Crash drill: a 1,000-row CSV batch on the embedded judge, the service killed mid-way and restarted.

    python bench/batch_drill.py [--rows 1000]

Starts `ragmeter serve` with a fresh SQLite store, uploads a CSV built from HaluEval QA, SIGKILLs
the process once about a third of the rows are done, starts it again, and waits for the job.
Prints the counts that matter: rows lost, rows duplicated, rows scored more than once, and the
sizes of the results in every format, the summary and the report.
"""
from __future__ import annotations

import argparse
import io
import json
import signal
import sqlite3
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd

from drill_service import free_port, serve

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "halueval_qa_dev.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragmeter-drill-"))
    rows = [json.loads(line) for line in DATA.read_text().splitlines()[: args.rows]]
    frame = pd.DataFrame({"id": [r["id"] + f"-{i}" for i, r in enumerate(rows)],
                          "question": [r["user_input"] for r in rows],
                          "contexts": [json.dumps(r["retrieved_contexts"]) for r in rows],
                          "answer": [r["response"] for r in rows],
                          "ground_truth": [r["reference"] for r in rows]})
    csv = work / "drill.csv"
    frame.to_csv(csv, index=False)
    db_path = work / "jobs.db"
    db = f"sqlite:///{db_path}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    process = serve(port, db)
    started = time.perf_counter()
    batch = httpx.post(f"{base}/v1/batches", files={"file": (csv.name, csv.read_bytes())}, timeout=120).json()
    while (status := httpx.get(f"{base}/v1/batches/{batch['id']}").json())["done"] < args.rows // 3:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = status["done"]

    process = serve(port, db)
    while (status := httpx.get(f"{base}/v1/batches/{batch['id']}").json())["status"] in ("queued", "running"):
        time.sleep(0.5)
    wall = time.perf_counter() - started
    results = {fmt: httpx.get(f"{base}/v1/batches/{batch['id']}/results", params={"format": fmt}, timeout=120).content
               for fmt in ("jsonl", "csv", "parquet")}
    summary = httpx.get(f"{base}/v1/batches/{batch['id']}/summary").json()
    report = httpx.get(f"{base}/v1/batches/{batch['id']}/report").text
    process.terminate()
    process.wait()

    scored = [json.loads(line) for line in results["jsonl"].decode().splitlines()]
    ids = [r["id"] for r in scored]
    with sqlite3.connect(db_path) as conn:
        rescored = conn.execute("SELECT COUNT(*) FROM rows WHERE attempts > 1").fetchone()[0]
    print(json.dumps({
        "rows_uploaded": args.rows, "killed_after_rows": killed_at, "final_status": status["status"],
        "rows_in_results": len(scored), "rows_lost": len(set(frame["id"]) - set(ids)),
        "rows_duplicated": len(ids) - len(set(ids)),
        "rows_without_result": sum(r["status"] not in ("scored", "error") for r in scored),
        "rows_error": sum(r["status"] == "error" for r in scored),
        "rows_scored_twice_because_in_flight_at_kill": rescored,
        "csv_rows": len(pd.read_csv(io.BytesIO(results["csv"]))),
        "parquet_rows": len(pd.read_parquet(io.BytesIO(results["parquet"]))),
        "gate_pass_rate": summary["gate_pass_rate"], "faithfulness": summary["metrics"]["faithfulness"],
        "report_bytes": len(report), "wall_s": round(wall, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
