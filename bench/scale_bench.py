"""Scaling benchmark: rows/s and efficiency per worker for 1, 2, 4 Ray workers and for 1, 2 service replicas.

    python bench/scale_bench.py [--rows 200] [--llm-rows 1200] [--replica-rows 400] [--workers 1 2 4]
                                [--only embedded llm replicas]

embedded: Ray workers with the embedded judge (one row and one onnxruntime thread per worker) on a local
Ray head with 4 logical CPUs (ports 8720-8759); CPU-bound, so it cannot scale past the machine's cores.
llm: Ray workers with the LLM judge against ../shared/judge-sim at 300 ms +- 50 ms (port 8711), each worker
with its own cap on calls in flight (RAGMETER_JUDGE_CONCURRENCY=16, total <= RAGMETER_RAY_JUDGE_CONCURRENCY=64):
bound by calls in flight, not CPU. replicas: 1 then 2 `ragmeter serve` processes (ports 8740, 8741) on one
fresh PostgreSQL database, LLM judge via judge-sim, the batch uploaded to the first replica; each replica keeps
RAGMETER_BATCH_CONCURRENCY=8 rows and 16 calls in flight. No reply cache anywhere (RAGMETER_CACHE_SIZE=0);
rows are rag_bench_100 repeated, each made distinct. Workers are warmed up (judge built, model loaded) before
the clock starts. Prints one table; efficiency = rows/s / (n x rows/s of one).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from ragmeter.metrics import DEFAULT_METRICS, GateConfig
from scale_setup import (bench_samples, judge_sim, llm_env, pg_database, ray_head, replicas, sim_stats, upload,
                         wait_done, write_rows)

SIM_PORT = 8711
REPLICA_PORTS = [8740, 8741]


async def timed_on_pool(pool, samples) -> float:
    """Seconds to score `samples` on the pool's workers, keeping every worker as busy as it allows."""
    slots = asyncio.Semaphore(pool.rows_in_flight)

    async def one(sample) -> None:
        async with slots:
            await pool.score(sample, list(DEFAULT_METRICS), GateConfig(), None)

    # Warm-up, untimed: one row per worker (rows go to the least busy worker, so each gets one).
    await asyncio.gather(*(pool.score(s, list(DEFAULT_METRICS), GateConfig(), None)
                           for s in samples[:len(pool.workers)]))
    started = time.perf_counter()
    await asyncio.gather(*(one(s) for s in samples))
    return time.perf_counter() - started


def ray_rows(judge: str, workers: list[int], n: int, sim: str | None) -> list[dict]:
    from ragmeter.service.ray_pool import RayPool, connect
    from ragmeter.service.settings import Settings

    # Once, with this process's OPENAI_* in the workers' environment.
    connect(time.monotonic() + Settings().ray_start_timeout_s)
    samples = bench_samples(n)
    out = []
    for w in workers:
        if sim:
            sim_stats(sim, reset=True)
        pool = RayPool(Settings(judge=judge, ray_workers=w, cache_size=0))
        try:
            seconds = asyncio.run(timed_on_pool(pool, samples))
        finally:
            pool.close()
        stats = sim_stats(sim) if sim else {}
        out.append({"mode": f"ray, {'LLM judge' if sim else 'embedded judge'}", "n": w, "rows": n,
                    "seconds": seconds, "calls": pool.calls_per_worker * w if sim else None,
                    "max_in_flight": stats.get("max_concurrent")})
    return out


def replica_rows(counts: list[int], n: int, sim: str, work: Path) -> list[dict]:
    path = write_rows(work / "replicas.jsonl", n)
    env = {**llm_env(sim), "RAGMETER_BATCH_CONCURRENCY": "8", "RAGMETER_JUDGE_CONCURRENCY": "16",
           "RAGMETER_POLL_S": "0.5"}
    out = []
    for count in counts:
        with pg_database() as db, replicas(REPLICA_PORTS[:count], db, work, **env):
            sim_stats(sim, reset=True)
            started = time.perf_counter()
            batch = upload(REPLICA_PORTS[0], path)
            status = wait_done(REPLICA_PORTS[0], batch, poll_s=0.1)
            seconds = time.perf_counter() - started
            assert status["status"] == "done", status
            stats = sim_stats(sim)
        out.append({"mode": "replicas on PostgreSQL, LLM judge", "n": count, "rows": n, "seconds": seconds,
                    "calls": 16 * count, "max_in_flight": stats.get("max_concurrent")})
    return out


def print_table(rows: list[dict]) -> None:
    print(f"\n{'mode':36} {'n':>2} {'rows':>5} {'s':>7} {'rows/s':>7} {'speedup':>7} {'eff./worker':>11} "
          f"{'call cap':>8} {'max calls seen':>14}")
    base: dict[str, float] = {}
    for r in rows:
        rate = r["rows"] / r["seconds"]
        one = base.setdefault(r["mode"], rate / r["n"])
        print(f"{r['mode']:36} {r['n']:>2} {r['rows']:>5} {r['seconds']:>7.1f} {rate:>7.2f} {rate / one:>6.2f}x "
              f"{rate / one / r['n']:>11.2f} {r['calls'] or '-':>8} {r['max_in_flight'] or '-':>14}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=200, help="rows per embedded-judge run")
    # Enough rows that the last rows' few sequential judge rounds (about a second) are a small part of the run.
    parser.add_argument("--llm-rows", type=int, default=1200, help="rows per LLM-judge run on Ray")
    parser.add_argument("--replica-rows", type=int, default=400, help="rows per replica run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--only", nargs="+", default=["embedded", "llm", "replicas"],
                        choices=["embedded", "llm", "replicas"])
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPU cores (shared with other work), load average at start "
          f"{os.getloadavg()[0]:.1f}")
    rows: list[dict] = []
    work = Path(tempfile.mkdtemp(prefix="ragmeter-scale-"))
    with judge_sim(SIM_PORT) as sim:
        for key, value in llm_env(sim).items():
            if key.startswith("OPENAI_"):
                os.environ[key] = value
        if {"embedded", "llm"} & set(args.only):
            with ray_head(cpus=max(args.workers)):
                if "embedded" in args.only:
                    rows += ray_rows("local", args.workers, args.rows, None)
                if "llm" in args.only:
                    rows += ray_rows("openai", args.workers, args.llm_rows, sim)
        if "replicas" in args.only:
            rows += replica_rows([1, 2], args.replica_rows, sim, work)
    print_table(rows)
    print(f"load average at end {os.getloadavg()[0]:.1f}; logs in {work}")


if __name__ == "__main__":
    main()
