"""Scale-out drill: the same scores on local, Ray and two replicas; a Ray worker and a replica killed mid-job.

    python bench/scale_drill.py [--rows 10000] [--kill-rows 300] [--only parity ray-kill replica-kill]

parity: one job of --rows rows (rag_bench_100 repeated, each made distinct; embedded judge) scored by this
process's runner on SQLite (local), by 2 Ray workers on a local head (ports 8720-8759) on SQLite (ray), and by
two `ragmeter serve` replicas (ports 8740, 8741) sharing one fresh PostgreSQL database, the job uploaded to
the first; every row's status, gate and scores compared with local's. Prints mismatches (must be 0).
ray-kill: --kill-rows rows, LLM judge on ../shared/judge-sim (port 8711, 300 ms), 2 Ray workers; one worker is
SIGKILLed once a third of the rows are done. replica-kill: the same job on two replicas sharing PostgreSQL
(RAGMETER_LEASE_S=6), the second replica kill -9'd once a third are done. For both: rows lost, rows stored
twice, rows ending neither scored nor error-with-a-message, rows re-scored, and the judge calls paid for
re-scored rows (judge-sim's count minus the calls recorded in the stored results), against the rows (and
calls) in flight at the kill.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
import time
from pathlib import Path

import httpx
from ragmeter.metrics import DEFAULT_METRICS, GateConfig
from ragmeter.service.server.batches.runner import BatchRunner, WorkerLost
from ragmeter.service.server.batches.store import AsyncStore, Row, Store
from scale_setup import (bench_samples, judge_sim, llm_env, pg_database, ray_head, replicas, sim_stats, upload,
                         wait_done, write_rows)
from sqlalchemy import func, select

SIM_PORT = 8711
REPLICA_PORTS = [8740, 8741]


async def run_job(db: str, samples, runner_for, kill=None) -> str:
    """Store a job, score it with the runner `runner_for(store)` gives; `kill(store, job_id)` is awaited mid-job."""
    store = AsyncStore(Store(db))
    job = await store.create_job("drill.jsonl", samples, list(DEFAULT_METRICS), GateConfig())
    runner = runner_for(store)
    runner.start(job.id)
    if kill is not None:
        await kill(store, job.id)
    await runner.tasks[job.id]
    await runner.halt()
    store.sync.close()
    return job.id


def outcomes(db: str, job_id: str, n: int) -> list[tuple]:
    store = Store(db)
    try:
        return store.outcomes(job_id, 0, n)
    finally:
        store.close()


def parity(n: int, work: Path) -> None:
    from ragmeter.service.ray_pool import RayPool
    from ragmeter.service.judge_setup import build_judge
    from ragmeter.service.settings import Settings

    samples = bench_samples(n)
    got: dict[str, list[tuple]] = {}
    started = time.perf_counter()
    judge = build_judge(Settings(judge="embedded"))
    db = f"sqlite:///{work}/local.db"
    job = asyncio.run(run_job(db, samples, lambda store: BatchRunner(store, judge, 8, poll_s=0.05)))
    got["local"] = outcomes(db, job, n)
    print(f"parity: local {n} rows in {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    with ray_head(cpus=2):
        pool = RayPool(Settings(judge="embedded", ray_workers=2))
        db = f"sqlite:///{work}/ray.db"
        try:
            job = asyncio.run(run_job(db, samples, lambda store: BatchRunner(
                store, None, pool.rows_in_flight, score=pool.score, poll_s=0.05)))
        finally:
            pool.close()
    got["ray"] = outcomes(db, job, n)
    print(f"parity: ray (2 workers) {n} rows in {time.perf_counter() - started:.0f} s")

    started = time.perf_counter()
    path = write_rows(work / "parity.jsonl", n)
    with pg_database() as db:
        with replicas(REPLICA_PORTS, db, work, RAGMETER_JUDGE="embedded", RAGMETER_POLL_S="0.5"):
            batch = upload(REPLICA_PORTS[0], path)
            wait_done(REPLICA_PORTS[0], batch, poll_s=1)
            owners = {port: rows_finished_by(port) for port in REPLICA_PORTS}
        got["2 replicas"] = outcomes(db, batch, n)
    print(f"parity: 2 replicas on PostgreSQL {n} rows in {time.perf_counter() - started:.0f} s "
          f"(rows each replica scored: {owners})")
    for mode in ("ray", "2 replicas"):
        # A run that lost or gained rows counts each missing or extra row as a mismatch.
        mismatches = (sum(a != b for a, b in zip(got["local"], got[mode], strict=False))
                      + abs(len(got["local"]) - len(got[mode])))
        print(f"parity: {mode} vs local: {len(got[mode])} rows, {mismatches} mismatches")
    statuses = {row[1] for rows in got.values() for row in rows}
    print(f"parity: row statuses seen {sorted(statuses)}")


def rows_finished_by(port: int) -> int:
    """Batch rows this replica finished (its /metrics counter)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    return int(sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("ragmeter_batch_rows_total{")))


def kill_report(what: str, db: str, job_id: str, n: int, sim: str, in_flight: int, note: str = "") -> None:
    """The kill figures: lost, stored twice, unfinished, re-scored, judge calls paid for re-scored rows."""
    stats = sim_stats(sim)
    store = Store(db)
    try:
        rows = store.rows(job_id)
        with store.session() as s:
            twice = s.scalar(select(func.count()).select_from(
                select(Row.index).where(Row.job_id == job_id).group_by(Row.index)
                .having(func.count() > 1).subquery()))
    finally:
        store.close()
    recorded = sum(r.result["usage"]["chat_calls"] + r.result["usage"]["embedding_calls"]
                   for r in rows if r.result)
    paid = stats["chat_requests"] + stats["embedding_requests"]
    scored = sum(r.status == "scored" for r in rows)
    errors = [r for r in rows if r.status == "error"]
    per_row = recorded / max(1, len([r for r in rows if r.result]))
    again = sum(r.attempts > 1 for r in rows)
    print(f"{what}: rows {n}, scored {scored}, error {len(errors)} (without a message: "
          f"{sum(not r.error for r in errors)}), lost {n - scored - len(errors)}, stored twice {twice}; "
          f"rows in flight at the kill {in_flight}, rows re-scored {again}{note}; judge calls: paid {paid}, in the "
          f"stored results {recorded} ({per_row:.1f} a row), paid for re-scored rows {paid - recorded} "
          f"(at most {in_flight} rows x {per_row:.1f} = {in_flight * per_row:.0f})")


def ray_kill(n: int, sim: str, work: Path) -> None:
    from ragmeter.service.ray_pool import RayPool
    from ragmeter.service.settings import Settings

    at_kill = {"lost": 0}

    async def score(*args):
        try:
            return await pool.score(*args)
        except WorkerLost:
            at_kill["lost"] += 1
            raise

    async def kill(store: AsyncStore, job_id: str) -> None:
        while (await store.counts(job_id)).get("scored", 0) < n // 3:
            await asyncio.sleep(0.05)
        at_kill["rows"] = pool.busy[0]
        os.kill(pool.pids()[0], signal.SIGKILL)

    with ray_head(cpus=2):
        pool = RayPool(Settings(judge="openai", ray_workers=2, cache_size=0))
        db = f"sqlite:///{work}/ray-kill.db"
        sim_stats(sim, reset=True)
        try:
            job = asyncio.run(run_job(db, bench_samples(n), lambda store: BatchRunner(
                store, None, pool.rows_in_flight, score=score, poll_s=0.05), kill))
        finally:
            pool.close()
    late = at_kill["lost"] - at_kill["rows"]
    kill_report("ray-kill (1 of 2 workers SIGKILLed)", db, job, n, sim, at_kill["rows"],
                f" (of which {late} were sent to the dead worker before Ray reported it: no judge call)")


def replica_kill(n: int, sim: str, work: Path) -> None:
    path = write_rows(work / "kill.jsonl", n)
    env = {**llm_env(sim), "RAGMETER_LEASE_S": "6", "RAGMETER_POLL_S": "0.5", "RAGMETER_BATCH_CONCURRENCY": "8"}
    with pg_database() as db:
        with replicas(REPLICA_PORTS, db, work, **env) as (_, victim):
            sim_stats(sim, reset=True)
            batch = upload(REPLICA_PORTS[0], path)
            wait_done(REPLICA_PORTS[0], batch, done=n // 3, poll_s=0.05)
            store = Store(db)
            with store.session() as s:
                leased = s.scalar(select(func.count()).select_from(Row).where(
                    Row.job_id == batch, Row.status == "pending", Row.lease_owner.like(f"%:{victim.pid}:%"))) or 0
            store.close()
            os.kill(victim.pid, signal.SIGKILL)
            started = time.perf_counter()
            status = wait_done(REPLICA_PORTS[0], batch)
            print(f"replica-kill: job {status['status']} {time.perf_counter() - started:.1f} s after the kill "
                  f"(lease 6 s)")
        kill_report("replica-kill (1 of 2 replicas kill -9)", db, batch, n, sim, leased)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the parity job")
    parser.add_argument("--kill-rows", type=int, default=300)
    parser.add_argument("--only", nargs="+", default=["parity", "ray-kill", "replica-kill"],
                        choices=["parity", "ray-kill", "replica-kill"])
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores (shared with other work), load average {os.getloadavg()[0]:.1f}")
    work = Path(tempfile.mkdtemp(prefix="ragmeter-scale-drill-"))
    if "parity" in args.only:
        parity(args.rows, work)
    with judge_sim(SIM_PORT) as sim:
        for key, value in llm_env(sim).items():
            if key.startswith("OPENAI_"):
                os.environ[key] = value
        if "ray-kill" in args.only:
            ray_kill(args.kill_rows, sim, work)
        if "replica-kill" in args.only:
            replica_kill(args.kill_rows, sim, work)
    print(f"logs in {work}")


if __name__ == "__main__":
    main()
