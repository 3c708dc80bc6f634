"""Slow-client drill: are connections with incomplete headers or a short body closed, and does the service stay fast?

    python bench/slow_client_drill.py [--clients 20] [--header-timeout S] [--body-timeout S] [--grace 15]

Starts `ragmeter serve` on a free port (embedded judge; RAGMETER_HEADER_TIMEOUT_S / RAGMETER_BODY_TIMEOUT_S
when given, else their defaults) and opens, all at once, --clients connections of each kind:
  partial headers: a request line and one header, then nothing;
  dripped headers: one header byte a second, never ending the head (slowloris);
  short body: a POST /v1/evaluate whose body stops 10 bytes short of its Content-Length.
Each waits until the server closes it, at most the kind's limit plus --grace seconds (then it counts as held).
Meanwhile /healthz is probed every 100 ms. Prints, per kind, how many the server closed, after how long
(median / max), and what it answered; the probes' latency. Exit 1 if any connection was held or a probe failed.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from drill_service import free_port, serve

SAMPLE = json.dumps({"samples": [{"question": "Who?", "answer": "Ada.", "retrieved_contexts": ["Ada wrote it."]}]})
KINDS = {
    "partial headers": b"GET /healthz HTTP/1.1\r\nHost: drill\r\n",
    "dripped headers": b"GET /healthz HTTP/1.1\r\nHost: drill\r\nX-Drip: ",
    "short body": (b"POST /v1/evaluate HTTP/1.1\r\nHost: drill\r\nContent-Type: application/json\r\n"
                   b"Content-Length: %d\r\n\r\n" % (len(SAMPLE) + 10) + SAMPLE.encode()),
}


async def slow_client(port: int, kind: str, wait_s: float) -> dict:
    """One connection of this kind; when (if) the server closed it, and the status line it sent first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.perf_counter()
    writer.write(KINDS[kind])
    received = b""

    async def drip() -> None:
        while kind == "dripped headers":
            await asyncio.sleep(1)
            writer.write(b"x")

    dripping = asyncio.create_task(drip())
    try:
        async with asyncio.timeout(wait_s):
            while chunk := await reader.read(65536):
                received += chunk
        closed = time.perf_counter() - started
    except TimeoutError:
        closed = None
    except ConnectionError:  # a reset is a close too
        closed = time.perf_counter() - started
    finally:
        dripping.cancel()
        writer.close()
    return {"closed_after_s": closed, "status": received.split(b"\r\n", 1)[0].decode() or "(none)"}


async def probe(port: int, halt: asyncio.Event) -> list[float | None]:
    latencies: list[float | None] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        while not halt.is_set():
            started = time.perf_counter()
            try:
                ok = (await http.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started if ok else None)
            await asyncio.sleep(0.1)
    return latencies


async def drill(port: int, clients: int, limits: dict[str, float], grace: float) -> dict:
    halt = asyncio.Event()
    probes = asyncio.create_task(probe(port, halt))
    runs = {kind: [slow_client(port, kind, limits[kind] + grace) for _ in range(clients)] for kind in KINDS}
    results = dict(zip(runs, await asyncio.gather(*(asyncio.gather(*tasks) for tasks in runs.values())), strict=True))
    halt.set()
    latencies = await probes
    report: dict = {}
    for kind, outcomes in results.items():
        times = [o["closed_after_s"] for o in outcomes if o["closed_after_s"] is not None]
        statuses: dict[str, int] = {}
        for o in outcomes:
            statuses[o["status"]] = statuses.get(o["status"], 0) + 1
        report[kind] = {"connections": clients, "closed by the server": len(times), "held": clients - len(times),
                        "limit_s": limits[kind], "closed after s (median / max)":
                        [round(statistics.median(times), 2), round(max(times), 2)] if times else None,
                        "answers": statuses}
    ok = sorted(t for t in latencies if t is not None)
    report["/healthz meanwhile"] = {
        "probes": len(latencies), "failed": len(latencies) - len(ok),
        "ms p50 / p99 / max": [round(1000 * ok[int(q * (len(ok) - 1))], 1) for q in (0.5, 0.99, 1.0)] if ok else None}
    return report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--header-timeout", type=float, help="RAGMETER_HEADER_TIMEOUT_S (default: the service's)")
    parser.add_argument("--body-timeout", type=float, help="RAGMETER_BODY_TIMEOUT_S (default: the service's)")
    parser.add_argument("--grace", type=float, default=15.0, help="seconds past a limit before a connection is held")
    args = parser.parse_args()
    from ragmeter.service.settings import Settings

    env = {"RAGMETER_JUDGE": "embedded"}
    if args.header_timeout is not None:
        env["RAGMETER_HEADER_TIMEOUT_S"] = str(args.header_timeout)
    if args.body_timeout is not None:
        env["RAGMETER_BODY_TIMEOUT_S"] = str(args.body_timeout)
    fields: dict[str, Any] = {k.removeprefix("RAGMETER_").lower(): v for k, v in env.items()}
    settings = Settings(**fields)
    limits = {"partial headers": settings.header_timeout_s, "dripped headers": settings.header_timeout_s,
              "short body": settings.body_timeout_s}
    work = Path(tempfile.mkdtemp(prefix="ragmeter-slow-"))
    port = free_port()
    process = serve(port, f"sqlite:///{work / 'jobs.db'}", **env)
    try:
        report = asyncio.run(drill(port, args.clients, limits, args.grace))
    finally:
        process.terminate()
        process.wait()
    print(json.dumps(report, indent=1))
    held = sum(r["held"] for k, r in report.items() if k in KINDS)
    return 1 if held or report["/healthz meanwhile"]["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
