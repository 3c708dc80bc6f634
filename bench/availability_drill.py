"""Availability drill: does the service keep answering while it reads a 100 MB upload and streams a 500,000-row job?

    python bench/availability_drill.py [--upload-mb 100] [--rows 500000] [--port 8101]

Starts `ragmeter serve` (embedded judge, fresh SQLite store) and, in phases, probes /healthz every 50 ms and
POSTs a one-sample /v1/evaluate every 250 ms while the main thread:
  idle        does nothing (the baseline);
  upload      uploads a generated CSV of --upload-mb (parsed and stored by a worker process), then cancels it;
  download    downloads the results of a --rows job as JSONL, CSV and Parquet, then its summary and report.
              The job is the uploaded one cut to --rows rows, with one real result written into every row
              directly in the store (scoring 500,000 rows would take hours here);
  1 GB        sends a 1 GB upload, once with its length declared and once chunked without one.
Prints each phase's probe latencies (ms), failures, and the server's RSS (MB) with its workers' beside it.
"""
from __future__ import annotations

import argparse
import csv
import json
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from drill_service import Sampler, latency_ms, rss_mb, serve

SAMPLE = {"user_input": "When was the Eiffel Tower completed?",
          "retrieved_contexts": ["The Eiffel Tower was completed in March 1889 for the World's Fair."],
          "response": "It was completed in 1889."}
MB = 1024 * 1024


def make_csv(path: Path, megabytes: int) -> int:
    """A CSV of about `megabytes` MB of distinct rows; returns the row count."""
    n = 0
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["id", "question", "contexts", "answer"])
        while f.tell() < megabytes * MB:
            out.writerow([f"q{n}", f"In which year was landmark number {n} of the city completed?",
                          json.dumps([f"Landmark {n} was completed in {1800 + n % 200} after eleven years of work."]),
                          f"It was completed in {1800 + n % 200}."])
            n += 1
    return n


def phase(pid: int, base: str, action) -> dict:
    """Run `action()` while /healthz and /v1/evaluate are probed; their latencies and the RSS during it."""
    health_client, eval_client = httpx.Client(timeout=30), httpx.Client(timeout=30)
    health = Sampler(pid, lambda: health_client.get(f"{base}/healthz").status_code == 200, every=0.05)
    evals = Sampler(pid, lambda: eval_client.post(f"{base}/v1/evaluate", json={"samples": [SAMPLE]}).status_code
                    == 200, every=0.25)
    rss_before = rss_mb(pid)
    health.start()
    evals.start()
    started = time.perf_counter()
    outcome = action() or {}
    seconds = time.perf_counter() - started
    health.stop(), evals.stop()
    return {"seconds": round(seconds, 1), **outcome, "healthz_ms": latency_ms(health.latencies),
            "healthz_failures": health.failures, "evaluate_ms": latency_ms(evals.latencies),
            "evaluate_failures": evals.failures, "server_rss_mb_before": round(rss_before, 1),
            "server_rss_mb_max": round(max(health.rss), 1),
            "workers_rss_mb_max": round(max(health.child_rss), 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upload-mb", type=int, default=100)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--port", type=int, default=8101)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragmeter-availability-"))
    db_path = work / "jobs.db"
    base = f"http://127.0.0.1:{args.port}"
    data = work / "big.csv"
    rows_in_file = make_csv(data, args.upload_mb)
    process = serve(args.port, f"sqlite:///{db_path}")
    client = httpx.Client(timeout=600)
    result = client.post(f"{base}/v1/evaluate", json={"samples": [SAMPLE]}).json()["results"][0]  # warms the judge
    report: dict[str, Any] = {"idle_rss_mb": round(rss_mb(process.pid), 1)}
    report["idle"] = phase(process.pid, base, lambda: time.sleep(5))

    batch = {}

    def upload():
        with data.open("rb") as f:
            response = client.post(f"{base}/v1/batches", files={"file": (data.name, f)},
                                   data={"metrics": "faithfulness"})
        batch.update(response.json())
        client.delete(f"{base}/v1/batches/{batch['id']}")  # only the reading is drilled, not scoring 550,000 rows
        return {"status": response.status_code, "file_mb": round(data.stat().st_size / MB, 1), "rows": rows_in_file}

    report["upload"] = phase(process.pid, base, upload)

    with sqlite3.connect(db_path) as db:  # the uploaded job, cut to --rows rows, every row scored with one result
        db.execute('DELETE FROM rows WHERE job_id = ? AND "index" >= ?', (batch["id"], args.rows))
        db.execute("UPDATE rows SET status = 'scored', result = ? WHERE job_id = ?", (json.dumps(result), batch["id"]))
        db.execute("UPDATE jobs SET status = 'done', total = ?, message = NULL WHERE id = ?", (args.rows, batch["id"]))

    def download():
        sizes, lines = {}, 0
        for fmt in ("jsonl", "csv", "parquet"):
            with client.stream("GET", f"{base}/v1/batches/{batch['id']}/results", params={"format": fmt}) as r:
                size = 0
                for chunk in r.iter_bytes():
                    size += len(chunk)
                    lines += chunk.count(b"\n") if fmt == "jsonl" else 0
            sizes[fmt] = round(size / MB, 1)
        timings = {}
        for name, path in (("summary", "summary"), ("summary_again", "summary"), ("report", "report")):
            started = time.perf_counter()
            client.get(f"{base}/v1/batches/{batch['id']}/{path}").raise_for_status()
            timings[f"{name}_s"] = round(time.perf_counter() - started, 2)
        return {"rows": args.rows, "jsonl_lines": lines, "mb": sizes, **timings}

    report["download"] = phase(process.pid, base, download)

    def one_gigabyte():
        statuses = {}
        preamble = b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        for how, headers in (("declared", {"content-length": str(len(preamble) + 1024 * MB)}), ("chunked", {})):
            def body():  # one file part that goes on for 1 GB
                yield preamble
                for _ in range(1024):
                    yield b"x" * MB

            try:
                response = client.post(f"{base}/v1/batches", content=body(), headers={
                    "content-type": "multipart/form-data; boundary=zzz", **headers})
                statuses[how] = f"{response.status_code} {response.json()['detail']}"
            except httpx.HTTPError as exc:  # the server answered 413 and closed while the body was still going
                statuses[how] = f"connection closed by the server ({type(exc).__name__})"
        return {"statuses": statuses}

    report["one_gigabyte"] = phase(process.pid, base, one_gigabyte)
    gigabyte = report["one_gigabyte"]
    gigabyte["rss_growth_mb"] = round(gigabyte["server_rss_mb_max"] - gigabyte["server_rss_mb_before"], 1)
    process.terminate()
    process.wait()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
