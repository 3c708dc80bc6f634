"""Keep-alive drill: does a client pool that reuses idle connections lose requests to the server's idle timeout?

    python bench/keepalive_drill.py [--clients 40] [--rounds 15] [--idle 1.0] [--port 8131]

Starts `ragmeter serve` twice: with RAGMETER_KEEP_ALIVE_S equal to the clients' pool expiry (--idle, the
race uvicorn's 5 s default has with httpx's 5 s), then with the default (65 s). Each client keeps its own
pooled connection and sends a request, waits about --idle seconds (0.95 to 1.05 times), and again. Prints
the requests dropped (a reset or a closed connection on the client) in each setting.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
from collections import Counter
from pathlib import Path

import httpx
from drill_service import serve


async def run(base: str, clients: int, rounds: int, idle: float) -> Counter:
    outcomes: Counter[int | str] = Counter()

    async def client() -> None:
        async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(keepalive_expiry=idle)) as http:
            for _ in range(rounds):
                try:
                    outcomes[(await http.get(f"{base}/healthz")).status_code] += 1
                except httpx.HTTPError as exc:
                    outcomes[type(exc).__name__] += 1
                await asyncio.sleep(idle * random.uniform(0.95, 1.05))

    await asyncio.gather(*(client() for _ in range(clients)))
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--idle", type=float, default=1.0)
    parser.add_argument("--port", type=int, default=8131)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragmeter-keepalive-"))
    report = {}
    for name, env in ((f"server keep-alive {args.idle:g} s (= client expiry)",
                       {"RAGMETER_KEEP_ALIVE_S": str(args.idle)}),
                      ("server keep-alive default (65 s)", {})):
        process = serve(args.port, f"sqlite:///{work / 'jobs.db'}", RAGMETER_JUDGE="embedded", **env)
        try:
            outcomes = asyncio.run(run(f"http://127.0.0.1:{args.port}", args.clients, args.rounds, args.idle))
        finally:
            process.terminate()
            process.wait()
        report[name] = {"requests": sum(outcomes.values()), "statuses": {str(k): v for k, v in outcomes.items()},
                        "dropped": sum(v for k, v in outcomes.items() if k != 200)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
