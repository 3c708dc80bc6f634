"""Cost and speed of the LLM judge on the benchmark set, measured against ../shared's judge simulator.

    python bench/llm_cost.py [--latency-ms 300 --jitter-ms 50 --concurrency 16 --error-rate 0]

Starts judge_sim.py on a free loopback port, scores rag_bench_100.jsonl on all four metrics,
prints chat calls and prompt tokens per sample (as the simulator counted them) and wall time,
then scores the set again to show that a repeated request costs no call.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from drill_service import free_port

from ragmeter.metrics import DEFAULT_METRICS, Sample, evaluate
from ragmeter.metrics.judges.llm import LLMJudge

SHARED = Path(__file__).resolve().parents[2] / "shared"


@contextmanager
def judge_sim(latency_ms: str, jitter_ms: str, extra: list[str] | None = None) -> Iterator[str]:
    """The shared judge simulator on a free port, answering once the block starts; its base URL."""
    port = free_port()
    sim = subprocess.Popen([sys.executable, str(SHARED / "judge-sim" / "judge_sim.py"), "--port", str(port),
                            "--latency-ms", latency_ms, "--jitter-ms", jitter_ms, *(extra or [])],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/stats")
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base
    finally:
        sim.terminate()


async def run(args: argparse.Namespace, base: str) -> None:
    samples = [Sample.model_validate_json(line) for line in (SHARED / "data" / args.data).read_text().splitlines()]
    judge = LLMJudge.create(model="sim", embedding_model="sim-embed", base_url=f"{base}/v1", api_key="sim",
                            concurrency=args.concurrency, timeout=args.timeout, max_retries=4)
    for label in ("cold", "repeat"):
        httpx.post(f"{base}/stats/reset")
        started = time.perf_counter()
        results = await evaluate(samples, judge)
        wall = time.perf_counter() - started
        stats = httpx.get(f"{base}/stats").json()
        failed = sum(1 for r in results if r.errors)
        n = len(samples)
        print(json.dumps({
            "run": label, "samples": n, "wall_s": round(wall, 2),
            "chat_calls_per_sample": round(stats["chat_requests"] / n, 2),
            "prompt_tokens_per_sample": round(stats["prompt_tokens"] / n, 1),
            "completion_tokens_per_sample": round(stats["completion_tokens"] / n, 1),
            "embedding_requests": stats["embedding_requests"],
            "max_concurrent": stats["max_concurrent"], "injected": stats["injected"],
            "samples_with_errors": failed,
            "null_scores": sum(getattr(r.scores, m) is None for r in results for m in DEFAULT_METRICS),
        }))
    await judge.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="rag_bench_100.jsonl")
    parser.add_argument("--latency-ms", default="300")
    parser.add_argument("--jitter-ms", default="50")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--sim-args", default="", help="extra judge_sim.py flags, e.g. '--error-rate 0.2'")
    args = parser.parse_args()
    with judge_sim(args.latency_ms, args.jitter_ms, args.sim_args.split()) as base:
        asyncio.run(run(args, base))

if __name__ == "__main__":
    main()
