"""Fault drill: a 1,000-row batch against a failing judge, the service killed (-9) mid-way and stopped (SIGTERM) later.

    python bench/fault_drill.py [--rows 1000] [--port 8112] [--sim-port 8111]

Starts ../shared/judge-sim with 20% HTTP errors (429/500/503), 10% malformed JSON and 5% calls that hang,
and `ragmeter serve` on it (LLM judge, 5 s timeout per call, fresh SQLite store). Uploads the batch, kills
the service with SIGKILL once a third of the rows are done, restarts it, sends SIGTERM at two thirds (timing
the exit and counting the rows it left pending), restarts it again and waits for the job. Prints rows
submitted, scored, errored, lost, stored twice, rows picked up twice, and the judge calls the simulator saw.
"""
from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from drill_service import serve

SIM = Path(__file__).resolve().parents[2] / "shared" / "judge-sim" / "judge_sim.py"


def rows(n: int) -> bytes:
    return "".join(json.dumps({"id": f"f{i}", "question": f"When was landmark {i} completed?",
                               "contexts": [f"Landmark {i} was completed in {1800 + i % 200}.", "It is tall."],
                               "answer": f"Landmark {i} was completed in {1800 + i % 200}. It is 300 m tall.",
                               "reference": f"It was completed in {1800 + i % 200}."}) + "\n"
                   for i in range(n)).encode()


def wait_for(base: str, batch_id: str, done: int | None = None) -> dict:
    """Poll until `done` rows are finished (or, without it, until the job is)."""
    while True:
        status = httpx.get(f"{base}/v1/batches/{batch_id}", timeout=30).json()
        if (done is not None and status["done"] >= done) or status["status"] not in ("queued", "running"):
            return status
        time.sleep(0.2)


def pending_picked_up(db_path: Path, batch_id: str) -> int:
    with sqlite3.connect(db_path) as db:
        return db.execute("SELECT COUNT(*) FROM rows WHERE job_id = ? AND status = 'pending' AND attempts > 0",
                          (batch_id,)).fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--port", type=int, default=8112)
    parser.add_argument("--sim-port", type=int, default=8111)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragmeter-faults-"))
    db_path = work / "jobs.db"
    db, base, sim_url = f"sqlite:///{db_path}", f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.sim_port}"
    sim = subprocess.Popen([sys.executable, str(SIM), "--port", str(args.sim_port), "--latency-ms", "50",
                            "--error-rate", "0.2", "--error-codes", "429,500,503", "--malformed-rate", "0.1",
                            "--hang-rate", "0.05", "--hang-s", "60"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {"OPENAI_BASE_URL": f"{sim_url}/v1", "OPENAI_API_KEY": "drill", "RAGMETER_JUDGE": "openai",
           "RAGMETER_JUDGE_TIMEOUT": "5", "RAGMETER_BATCH_CONCURRENCY": "32", "RAGMETER_JUDGE_CONCURRENCY": "64"}
    try:
        process = serve(args.port, db, **env)
        started = time.perf_counter()
        batch = httpx.post(f"{base}/v1/batches", files={"file": ("faults.jsonl", rows(args.rows))}, timeout=120).json()
        killed_at = wait_for(base, batch["id"], args.rows // 3)["done"]
        process.send_signal(signal.SIGKILL)
        process.wait()
        in_flight_at_kill = pending_picked_up(db_path, batch["id"])

        process = serve(args.port, db, **env)
        terminated_at = wait_for(base, batch["id"], 2 * args.rows // 3)["done"]
        stopping = time.perf_counter()
        process.send_signal(signal.SIGTERM)
        process.wait()
        exit_s = time.perf_counter() - stopping
        left_pending_at_sigterm = pending_picked_up(db_path, batch["id"])
        after_sigterm = sqlite3.connect(db_path).execute("SELECT status FROM jobs WHERE id = ?",
                                                         (batch["id"],)).fetchone()[0]

        process = serve(args.port, db, **env)
        final = wait_for(base, batch["id"])
        wall = time.perf_counter() - started
        lines = httpx.get(f"{base}/v1/batches/{batch['id']}/results", timeout=120).text.splitlines()
        stats = httpx.get(f"{sim_url}/stats").json()
        process.terminate()
        process.wait()
    finally:
        sim.terminate()
    results = [json.loads(line) for line in lines]
    ids = [r["id"] for r in results]
    with sqlite3.connect(db_path) as conn:
        picked_twice = conn.execute("SELECT COUNT(*) FROM rows WHERE attempts > 1").fetchone()[0]
    errors = Counter((r["error"] or "").split(":")[0] for r in results if r["status"] == "error")
    print(json.dumps({
        "rows_submitted": args.rows, "final_status": final["status"], "rows_scored": final["scored"],
        "rows_errored": final["errors"], "error_kinds": dict(errors.most_common(5)),
        "rows_lost": (len({f"f{i}" for i in range(args.rows)} - set(ids))
                      + sum(r["status"] == "pending" for r in results)),
        "rows_stored_twice": len(ids) - len(set(ids)),
        "rows_picked_up_twice (in flight at kill or SIGTERM, scored again)": picked_twice,
        "killed_at_done": killed_at, "in_flight_at_kill": in_flight_at_kill,
        "sigterm_at_done": terminated_at, "sigterm_exit_s": round(exit_s, 1),
        "rows_released_pending_by_sigterm": left_pending_at_sigterm, "job_status_after_sigterm": after_sigterm,
        "judge_calls_paid": {k: stats[k] for k in ("requests", "chat_requests", "embedding_requests",
                                                   "prompt_tokens", "completion_tokens")},
        "faults_injected": stats["injected"], "wall_s": round(wall, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
