"""Streaming guard latency: from a sentence's last token sent to its verdict received, 20 streams at once.

    python bench/guard_latency.py [--streams 20] [--answers 60] [--token-ms 20] [--data rag_bench_100.jsonl]

Starts `ragmeter serve` (embedded judge, its own SQLite file, a free port) as a subprocess, then runs
`--streams` concurrent WebSocket streams; each takes answers from the data set in turn and sends them a
token at a time (words with their leading space, punctuation apart, `--token-ms` apart, as a model
streams), with stop_on "never" so that every sentence is judged. Prints p50 / p95 / p99 and the count, as
the client measures them, and the server's own `latency_ms` for comparison. Target: p95 <= 50 ms on 2 cores.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from websockets.asyncio.client import connect

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOKEN = re.compile(r"\s*[\w']+|\s*[^\w\s]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    await asyncio.sleep(offset)  # streams start spread over the first token gap, not in lockstep
    for row in rows:
        await one_answer(url, row, token_s, client_ms, server_ms)


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return f"n={len(values)}"
    q = statistics.quantiles(values, n=100, method="inclusive")
    return f"p50 {q[49]:.1f} ms, p95 {q[94]:.1f} ms, p99 {q[98]:.1f} ms, max {max(values):.1f} ms, n={len(values)}"


async def run(url: str, rows: list[dict], streams: int, token_s: float) -> tuple[list[float], list[float]]:
    client_ms: list[float] = []
    server_ms: list[float] = []
    shares = [rows[i::streams] for i in range(streams)]
    await asyncio.gather(*(stream_worker(url, share, token_s, client_ms, server_ms, token_s * i / streams)
                           for i, share in enumerate(shares)))
    return client_ms, server_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20)
    parser.add_argument("--answers", type=int, default=60, help="answers streamed in all (from the data set)")
    parser.add_argument("--token-ms", type=float, default=20.0, help="gap between a stream's tokens")
    parser.add_argument("--data", default="rag_bench_100.jsonl")
    args = parser.parse_args()
    every = [json.loads(line) for line in (DATA / args.data).read_text().splitlines()]
    rows = every[:args.answers]
    # Warm-up answers come from other rows: the timed streams' contexts are new to the server, as in production.
    warm = every[args.answers:args.answers + args.streams] or every[-args.streams:]

    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        server = start_server(port, workdir)
        try:
            url = f"ws://127.0.0.1:{port}/v1/guard"
            asyncio.run(run(url, warm, args.streams, 0.0))  # warm-up: one answer a stream, untimed
            started = time.perf_counter()
            client_ms, server_ms = asyncio.run(run(url, rows, args.streams, args.token_ms / 1000))
            wall = time.perf_counter() - started
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"{args.streams} concurrent streams, {len(rows)} answers, a token every {args.token_ms:g} ms per stream, "
          f"{os.cpu_count()} CPUs, {wall:.1f} s")
    print(f"last token sent -> verdict received (client): {percentiles(client_ms)}")
    print(f"sentence complete -> verdict sent (server latency_ms): {percentiles(server_ms)}")


if __name__ == "__main__":
    main()
