"""Load drill: 200 concurrent clients on /v1/evaluate with the embedded judge, API keys and rate limits on.

    python bench/load_drill.py [--clients 200] [--requests 5] [--keys 20] [--rps 50] [--port 8121]

Starts `ragmeter serve` (embedded judge, fresh SQLite store) with --keys static API keys, a per-key limit of
--rps requests/s and a daily sample quota; each client sends --requests one-sample requests in a row with
one of the keys (distinct samples, so nothing is answered from a cache). Prints throughput, latency
percentiles and every status seen; a 429 is counted apart from errors (it is the limit doing its job).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from drill_service import latency_ms, rss_mb, serve


def sample(i: int) -> dict:
    year = 1800 + i % 200
    return {"user_input": f"When was landmark {i} completed?",
            "retrieved_contexts": [f"Landmark {i} was completed in {year} after eleven years of work.",
                                   f"It stands {100 + i % 50} metres tall."],
            "response": f"Landmark {i} was completed in {year}. It is the tallest tower in Europe."}


async def run(base: str, keys: list[str], clients: int, requests: int) -> tuple[list[float], Counter, float]:
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=300, limits=limits) as http:
        async def client(c: int) -> None:
            headers = {"X-API-Key": keys[c % len(keys)]}
            for r in range(requests):
                started = time.perf_counter()
                try:
                    response = await http.post(f"{base}/v1/evaluate", headers=headers,
                                               json={"samples": [sample(c * requests + r)]})
                    statuses[response.status_code] += 1
                except httpx.HTTPError as exc:
                    statuses[type(exc).__name__] += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client(c) for c in range(clients)))
        return latencies, statuses, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--requests", type=int, default=5)
    parser.add_argument("--keys", type=int, default=20)
    parser.add_argument("--rps", type=float, default=50.0)
    parser.add_argument("--port", type=int, default=8121)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragmeter-load-"))
    keys = {f"load{k}": f"key-load-{k:03d}-0123456789" for k in range(args.keys)}
    process = serve(args.port, f"sqlite:///{work / 'jobs.db'}", RAGMETER_API_KEYS=json.dumps(keys),
                    RAGMETER_RATE_LIMIT_RPS=str(args.rps), RAGMETER_SAMPLES_PER_DAY="1000000")
    base = f"http://127.0.0.1:{args.port}"
    try:
        warm = httpx.post(f"{base}/v1/evaluate", headers={"X-API-Key": next(iter(keys.values()))},
                          json={"samples": [sample(-1)]}, timeout=300)
        warm.raise_for_status()
        idle_rss = rss_mb(process.pid)
        latencies, statuses, wall = asyncio.run(run(base, list(keys.values()), args.clients, args.requests))
        peak_rss = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait()
    ok = statuses.get(200, 0)
    print(json.dumps({
        "clients": args.clients, "requests": len(latencies), "keys": args.keys, "rate_limit_rps_per_key": args.rps,
        "wall_s": round(wall, 1), "throughput_req_per_s": round(ok / wall, 1), "latency_ms": latency_ms(latencies),
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": sum(v for k, v in statuses.items() if k not in (200, 429)),
        "rss_mb_idle_then_after": [round(idle_rss, 1), round(peak_rss, 1)],
    }, indent=1))


if __name__ == "__main__":
    main()
