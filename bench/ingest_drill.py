"""Ingestion drill: records/s accepted by POST /v1/records and acceptance latency while scoring runs; then kill -9.

Part 1 starts `ragmeter serve` (embedded judge) on a fresh database and sends records from several concurrent
clients at a fixed offered rate (open loop: each client sends one request of --per-request records every
clients*per_request/rate seconds, whatever the answers' latency) for --seconds, while the server scores the
backlog in the background. It prints records/s accepted and the latency of each request (p50, p99).

Part 2, on another fresh database: ingestion as above, kill -9 of the server in the middle of it, a restart on the
same database, a wait until nothing is pending, then checks that every id that got a 202 is stored and scored
exactly once (one result each; records picked up twice, after the kill, are counted and reported).

    python bench/ingest_drill.py [--pg] [--seconds 10] [--rate 600] [--clients 4] [--per-request 50]
                                 [--executor local|process] [--hold-scoring | --split]

--split runs part 1 with an accepting server (RAGMETER_BACKGROUND_SCORING=false), whose latency is measured, and a
scoring server on the same database, as an API replica and a scoring replica would be deployed.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drill_service import free_port, fresh_database, serve, serve_niced  # noqa: E402

from ragmeter.service.server.traffic.tables import Record  # noqa: E402

LOG = Path(tempfile.gettempdir()) / "ingest_drill.log"
FACTS = [
    ("When was the Eiffel Tower completed?", "The Eiffel Tower is in Paris. It was completed in 1889.",
     "It was completed in 1889."),
    ("What is the capital of Germany?", "Berlin is the capital of Germany. It has 3.7 million people.",
     "Berlin is the capital of Germany."),
    ("Who wrote Hamlet?", "Hamlet is a tragedy written by William Shakespeare around 1600.",
     "William Shakespeare wrote Hamlet. He wrote it in 1750."),
]


def records(n: int) -> list[dict]:
    out: list[dict] = []
    for _ in range(n):
        question, context, answer = FACTS[len(out) % len(FACTS)]
        out.append({"id": uuid.uuid4().hex, "trace_id": uuid.uuid4().hex, "user_input": question,
                    "retrieved_contexts": [context, "An unrelated passage about the weather in Lisbon."],
                    "response": answer, "metadata": {"model": "m1", "prompt_version": "v3"}})
    return out


class Load:
    """Open-loop senders: what each request got (latency, status, ids)."""

    def __init__(self, base: str, rate: float, clients: int, per_request: int, metrics: list[str] | None = None):
        self.base, self.rate, self.clients, self.per_request = base, rate, clients, per_request
        self.metrics = metrics
        self.latencies: list[float] = []
        self.statuses: collections.Counter[str] = collections.Counter()
        self.ids: list[str] = []
        self.sent_ids: list[str] = []
        self.stop = asyncio.Event()

    async def run(self, seconds: float) -> float:
        """Send for `seconds` (or until `stop`); the wall time it took."""
        started = time.perf_counter()
        limits = httpx.Limits(max_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.base, limits=limits, timeout=10) as http:
            await asyncio.gather(*(self._client(http, k, started + seconds) for k in range(self.clients)))
        return time.perf_counter() - started

    async def _client(self, http: httpx.AsyncClient, k: int, until: float) -> None:
        every = self.clients * self.per_request / self.rate
        due = time.perf_counter() + k * every / self.clients  # clients staggered evenly
        while due < until and not self.stop.is_set():
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            due += every
            batch = records(self.per_request)
            body: dict = {"app": "drill", "records": batch}
            if self.metrics:
                body["metrics"] = self.metrics
            started = time.perf_counter()
            try:
                answer = await http.post("/v1/records", json=body)
            except httpx.HTTPError as exc:
                self.statuses[type(exc).__name__] += 1
                continue
            self.latencies.append(time.perf_counter() - started)
            self.statuses[str(answer.status_code)] += 1
            if answer.status_code == 202:
                self.ids += answer.json()["ids"]
                self.sent_ids += [r["id"] for r in batch]


def counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return {status: n for status, n in c.execute(select(Record.status, func.count()).group_by(Record.status))}
    finally:
        engine.dispose()


def server_latency(base: str) -> dict[float, float]:
    """The server's own histogram of POST /v1/records latency: cumulative count per upper bound (seconds)."""
    found = {}
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith("ragmeter_http_request_seconds_bucket") and 'route="/v1/records"' in line \
                and 'method="POST"' in line:
            bound = line.split('le="')[1].split('"')[0]
            found[float(bound)] = float(line.rsplit(" ", 1)[1])
    return found


def ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000) if values else float("nan")


# The baseline: scoring held back, as while a Ray executor is still joining a cluster (here one that is not there).
HELD = {"RAGMETER_EXECUTOR": "ray", "RAY_ADDRESS": "127.0.0.1:9", "RAGMETER_RAY_START_TIMEOUT_S": "600"}


def ready(base: str) -> None:
    """Wait until the server scores (worker processes take a few seconds to load the encoder)."""
    for _ in range(600):
        if httpx.get(f"{base}/readyz").status_code == 200:
            return
        time.sleep(0.1)
    raise RuntimeError("the server did not get ready in 60 s")


def executor(args: argparse.Namespace) -> dict[str, str]:
    return {"RAGMETER_EXECUTOR": args.executor} if args.executor else {}


def throughput(args: argparse.Namespace, url: str, port: int) -> None:
    if args.split:  # this server only accepts; a second one on the same database scores
        server = serve(port, url, LOG, RAGMETER_JUDGE="embedded", RAGMETER_BACKGROUND_SCORING="false")
        scorer_port = free_port()
        scorer = serve_niced(args.scorer_nice, scorer_port, url, LOG,
                             {"RAGMETER_JUDGE": "embedded", "RAGMETER_POLL_S": "0.2", **executor(args)})
    else:
        server = serve(port, url, LOG, RAGMETER_JUDGE="embedded", **(HELD if args.hold_scoring else executor(args)))
        scorer, scorer_port = None, port
    try:
        if not args.hold_scoring:
            ready(f"http://127.0.0.1:{scorer_port}")
        load = Load(f"http://127.0.0.1:{port}", args.rate, args.clients, args.per_request)
        wall = asyncio.run(load.run(args.seconds))
        stored = counts(url)
        buckets = server_latency(f"http://127.0.0.1:{port}")
    finally:
        for process in (server, scorer):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(30)
    accepted = len(load.ids)
    held = " (scoring held back: the baseline)" if args.hold_scoring else \
        " (this server only accepts: another process on the same database scores)" if args.split else ""
    print(f"part 1{held}: {args.clients} clients, {args.per_request} records per request, offered {args.rate:g} "
          f"records/s "
          f"for {wall:.1f} s")
    print(f"  accepted {accepted} records = {accepted / wall:.0f} records/s; answers {dict(load.statuses)}")
    print(f"  acceptance latency per request: p50 {ms(load.latencies, 50):.1f} ms, p99 {ms(load.latencies, 99):.1f} "
          f"ms, max {ms(load.latencies, 100):.1f} ms")
    total = buckets.get(float("inf"), 0)
    print("  the same requests timed inside the server (its request-latency histogram): " + ", ".join(
        f"{share:.0%} under {bound * 1000:g} ms" for bound, n in buckets.items() if bound in (0.025, 0.05, 0.1)
        for share in [n / total if total else 0]))
    print(f"  scored meanwhile by {'the other' if args.split else 'the same'} server: "
          f"{stored.get('scored', 0) + stored.get('error', 0)} "
          f"(pending {stored.get('pending', 0)})")


def kill_and_restart(args: argparse.Namespace, url: str, port: int) -> None:
    server = serve(port, url, LOG, RAGMETER_JUDGE="embedded", **executor(args))
    ready(f"http://127.0.0.1:{port}")  # scoring under way at the kill, so that some records are in flight
    load = Load(f"http://127.0.0.1:{port}", args.kill_rate, args.clients, args.per_request)

    async def ingest_then_kill() -> None:
        sending = asyncio.ensure_future(load.run(args.seconds))
        await asyncio.sleep(args.seconds / 2)
        os.kill(server.pid, signal.SIGKILL)  # mid-ingestion, mid-scoring
        await asyncio.sleep(0.5)
        load.stop.set()
        await sending

    asyncio.run(ingest_then_kill())
    server.wait(30)
    at_kill = counts(url)
    print(f"part 2: kill -9 after {args.seconds / 2:g} s of ingestion at {args.kill_rate:g} records/s "
          "(scoring falls behind, so records are in flight and pending at the kill): "
          f"{len(load.ids)} records got a 202; answers {dict(load.statuses)}; "
          f"in the database at the kill: {at_kill}")
    if not at_kill.get("pending"):
        # A machine that scores as fast as part 2 sends leaves nothing in flight: the kill would prove nothing.
        print(f"  NOTE: nothing was pending at the kill; run again with a --kill-rate above {args.kill_rate:g}")
    started = time.perf_counter()
    server = serve(port, url, LOG, RAGMETER_JUDGE="embedded", **executor(args))
    try:
        while counts(url).get("pending", 0):
            time.sleep(0.5)
        drained = time.perf_counter() - started
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    engine = create_engine(url)
    with engine.connect() as c:
        rows = {r.id: r for r in c.execute(select(Record.id, Record.status, Record.attempts,
                                                  Record.result.isnot(None).label("has_result"),
                                                  Record.sample["id"].as_string().label("sample_id")))}
    engine.dispose()
    acked = set(load.ids)
    missing = acked - rows.keys()
    unscored = [i for i in acked & rows.keys() if rows[i].status != "scored" or not rows[i].has_result]
    twice = [i for i in acked & rows.keys() if rows[i].attempts > 1]
    extra = rows.keys() - acked
    per_sample = collections.Counter(r.sample_id for r in rows.values())
    print(f"  restart scored the rest in {drained:.1f} s: {len(acked)} acknowledged ids, {len(missing)} missing, "
          f"{len(unscored)} without a result, {sum(n > 1 for n in per_sample.values())} stored twice")
    print(f"  picked up twice (in flight at the kill, lease lapsed, scored again after restart): {len(twice)}")
    print(f"  stored but whose 202 never arrived (committed as the server died): {len(extra)}")
    print("  OK: every acknowledged record stored and scored exactly once" if not (missing or unscored) and
          max(per_sample.values(), default=1) == 1 else "  FAILED")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", action="store_true", help="a PostgreSQL database (created and dropped)")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=600.0, help="records/s offered in part 1")
    parser.add_argument("--kill-rate", type=float, default=400.0,
                        help="records/s offered in part 2: more than the server scores, so some wait at the kill")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-request", type=int, default=50)
    parser.add_argument("--port", type=int, default=None, help="default: a free one")
    parser.add_argument("--skip-kill", action="store_true")
    parser.add_argument("--executor", choices=["local", "process"],
                        help="RAGMETER_EXECUTOR of the server (default: the server's default, local)")
    parser.add_argument("--hold-scoring", action="store_true",
                        help="part 1 with no scoring in the server meanwhile (the baseline)")
    parser.add_argument("--split", action="store_true",
                        help="part 1 with two servers on the database: one that accepts (RAGMETER_BACKGROUND_SCORING="
                             "false), measured, and one that scores (--executor)")
    parser.add_argument("--scorer-nice", type=int, default=10,
                        help="with --split: the scoring server's lower OS priority (nice), as its own workers have")
    args = parser.parse_args()
    args.port = args.port or free_port()
    print(f"database: {'PostgreSQL' if args.pg else 'SQLite'}; {os.cpu_count()} CPUs; executor "
          f"{args.executor or 'default'}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with fresh_database(args.pg, 'ragmeter_drill') as url:
        throughput(args, url, args.port)
    if not args.skip_kill:
        with fresh_database(args.pg, 'ragmeter_drill') as url:
            kill_and_restart(args, url, args.port)


if __name__ == "__main__":
    main()
