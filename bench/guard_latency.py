"""Streaming guard latency: from a sentence's last token sent to its verdict received, 20 streams at once.

    python bench/guard_latency.py [--streams 20] [--answers 60] [--token-ms 20] [--data rag_bench_100.jsonl]
                                  [--client-procs 1] [--lockstep]

Starts `ragmeter serve` (embedded judge, its own SQLite file, a free port) as a subprocess, then runs
`--streams` concurrent WebSocket streams; each takes answers from the data set in turn and sends them a
token at a time (words with their leading space, punctuation apart, `--token-ms` apart, as a model
streams), with stop_on "never" so that every sentence is judged. Streams start spread over the time one
answer takes to stream, as independent users' streams would (`--lockstep`: all within one token gap, so
that every stream completes its sentences at about the same moments: the worst case). Prints p50 / p95 / p99
and the count, as the client measures them, and the server's own `latency_ms` (sentence complete to verdict
sent, which leaves out the client's own delays), with the load average before and after. Target: p95 <=
50 ms on 2 cores.

The client runs on the same cores as the server: its sending and receiving (about 1,000 WebSocket messages
a second at 20 streams) takes CPU the judge would otherwise have, and its own event loop's delays count in
the client figure. It also prints where the server's time went (queued for the judge, judged, total), from its
/metrics. `--client-procs N` splits the streams over N client processes, so that one client loop
is not the bottleneck (the cores are still shared).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from drill_service import free_port
from websockets.asyncio.client import connect

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOKEN = re.compile(r"\s*[\w']+|\s*[^\w\s]")


def start_server(port: int, workdir: str) -> subprocess.Popen:
    env = {**os.environ, "RAGMETER_JUDGE": "embedded", "RAGMETER_DB": f"sqlite:///{workdir}/guard_bench.db",
           "RAGMETER_GUARD_MAX_SESSIONS": "1000"}
    ragmeter = Path(sys.executable).with_name("ragmeter")
    server = subprocess.Popen([str(ragmeter), "serve", "--port", str(port), "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return server
        except OSError:
            if server.poll() is not None:
                raise SystemExit(f"ragmeter serve exited with {server.returncode}") from None
            time.sleep(0.2)
    server.kill()
    raise SystemExit("ragmeter serve did not answer /healthz within 60 s")


async def one_answer(url: str, row: dict, token_s: float, client_ms: list[float], server_ms: list[float]) -> None:
    tokens = TOKEN.findall(row["response"])
    sent_at: list[tuple[int, float]] = []  # (characters sent so far, when the token carrying them was sent)
    async with connect(url, proxy=None, compression=None, max_size=None) as ws:
        await ws.send(json.dumps({"type": "start", "question": row["user_input"],
                                  "contexts": row["retrieved_contexts"], "stop_on": "never"}))

        async def send() -> None:
            chars = 0
            for token in tokens:
                await asyncio.sleep(token_s)
                chars += len(token)
                sent_at.append((chars, time.perf_counter()))
                await ws.send(json.dumps({"type": "delta", "text": token}))
            await ws.send('{"type": "end"}')

        sender = asyncio.create_task(send())
        async for raw in ws:
            now = time.perf_counter()
            message = json.loads(raw)
            if message["type"] == "sentence":
                # The sentence's last token: the first one whose text reaches the sentence's end.
                last = next(t for chars, t in sent_at if chars >= message["end"])
                client_ms.append((now - last) * 1000)
                server_ms.append(message["latency_ms"])
            elif message["type"] in ("final", "error"):
                if message["type"] == "error":
                    print("error:", message, file=sys.stderr)
                break
        await sender


async def stream_worker(url: str, rows: list[dict], token_s: float, client_ms: list[float],
                        server_ms: list[float], offset: float) -> None:
    await asyncio.sleep(offset)
    for row in rows:
        await one_answer(url, row, token_s, client_ms, server_ms)


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {max(values):.1f} ms, n={len(values)}"


async def run(url: str, shares: list[list[dict]], offsets: list[float], token_s: float
              ) -> tuple[list[float], list[float]]:
    client_ms: list[float] = []
    server_ms: list[float] = []
    await asyncio.gather(*(stream_worker(url, share, token_s, client_ms, server_ms, offset)
                           for share, offset in zip(shares, offsets, strict=True)))
    return client_ms, server_ms


def client_process(url: str, shares: list[list[dict]], offsets: list[float], token_s: float
                   ) -> tuple[list[float], list[float]]:
    """One client process's streams (a top-level function, so that a process pool can run it)."""
    return asyncio.run(run(url, shares, offsets, token_s))


def run_streams(url: str, rows: list[dict], streams: int, token_s: float, spread_s: float, procs: int
                ) -> tuple[list[float], list[float]]:
    """Every stream's latencies; the streams take the rows in turn and start spread over `spread_s`."""
    shares = [rows[i::streams] for i in range(streams)]
    offsets = [spread_s * i / streams for i in range(streams)]
    if procs <= 1:
        return client_process(url, shares, offsets, token_s)
    parts = [(url, shares[p::procs], offsets[p::procs], token_s) for p in range(procs)]
    client_ms: list[float] = []
    server_ms: list[float] = []
    with multiprocessing.get_context("spawn").Pool(procs) as pool:
        for c, s in pool.starmap(client_process, parts):
            client_ms += c
            server_ms += s
    return client_ms, server_ms


def stages(port: int) -> dict[str, dict[str, float]]:
    """The server's ragmeter_guard_stage_seconds: per stage, its cumulative bucket counts, sum and count."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    found: dict[str, dict[str, float]] = {}
    for line in lines:
        if not line.startswith("ragmeter_guard_stage_seconds_"):
            continue
        name, value = line.rsplit(" ", 1)
        stage = name.split('stage="')[1].split('"')[0]
        key = name.split('le="')[1].split('"')[0] if "_bucket" in name else name.split("{")[0].rsplit("_", 1)[1]
        found.setdefault(stage, {})[key] = float(value)
    return found


def breakdown(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> str:
    """Per stage over the timed run: mean, p95 (as a histogram bucket's upper bound) and the share over 50 ms."""
    out = []
    for stage in ("queued", "judged", "total"):
        got = {k: v - before.get(stage, {}).get(k, 0.0) for k, v in after.get(stage, {}).items()}
        count = got.get("count", 0.0)
        if not count:
            continue
        bounds = sorted((float(k), v) for k, v in got.items() if k not in ("sum", "count", "created"))
        p95 = next(b for b, n in bounds if n >= 0.95 * count)
        over = 1 - next(n for b, n in bounds if b == 0.05) / count
        out.append(f"{stage} mean {got['sum'] / count * 1000:.1f} ms, p95 <= {p95 * 1000:g} ms, "
                   f"{over:.0%} over 50 ms")
    return "; ".join(out)


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--answers", type=int, default=60, help="answers streamed in all (from the data set)")
    parser.add_argument("--token-ms", type=float, default=20.0, help="gap between a stream's tokens")
    parser.add_argument("--data", default="rag_bench_100.jsonl")
    parser.add_argument("--client-procs", type=int, default=1, help="client processes the streams are split over")
    parser.add_argument("--lockstep", action="store_true",
                        help="start every stream within one token gap (default: spread over one answer's time)")
    args = parser.parse_args()
    every = [json.loads(line) for line in (DATA / args.data).read_text().splitlines()]
    rows = every[:args.answers]
    # Warm-up answers come from other rows: the timed streams' contexts are new to the server, as in production.
    warm = every[args.answers:args.answers + args.streams] or every[-args.streams:]

    token_s = args.token_ms / 1000
    tokens = statistics.mean(len(TOKEN.findall(r["response"])) for r in rows)
    spread_s = token_s if args.lockstep else tokens * token_s
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(port, workdir)
        try:
            url = f"ws://127.0.0.1:{port}/v1/guard"
            run_streams(url, warm, args.streams, 0.0, 0.0, 1)  # warm-up: one answer a stream, untimed
            load_before, stages_before = load(), stages(port)
            started = time.perf_counter()
            client_ms, server_ms = run_streams(url, rows, args.streams, token_s, spread_s, args.client_procs)
            wall = time.perf_counter() - started
            load_after, stages_after = load(), stages(port)
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{args.streams} concurrent streams ({'lockstep' if args.lockstep else f'starts over {spread_s:.1f} s'}), "
          f"{len(rows)} answers of {args.data}, a token every {args.token_ms:g} ms per stream, {os.cpu_count()} CPUs, "
          f"{args.client_procs} client process(es), {wall:.1f} s; load average (1/5/15 min) {load_before} before, "
          f"{load_after} after")
    print(f"last token sent -> verdict received (client): {percentiles(client_ms)}")
    print(f"sentence complete -> verdict sent (server latency_ms): {percentiles(server_ms)}")
    print("inside the server, per sentence (its ragmeter_guard_stage_seconds): "
          f"{breakdown(stages_before, stages_after)}")


if __name__ == "__main__":
    main()
