"""Parity of cost: ragmeter's LLM judge, the ragas engine and the cascade, each through the service, side by side.

    python bench/engine_cost.py [--engines openai ragas cascade cascade-llm-decompose] [--latency-ms 300]

Starts ../shared's judge simulator (300 ms ± 50 ms a chat call by default) and, for each engine in
turn, `ragmeter serve` on a port from 8220 up with RAGMETER_JUDGE set; posts rag_bench_100.jsonl to
/v1/evaluate (two requests of 50, side by side) and prints per sample: chat calls and prompt tokens
as the simulator counted them, as the results' `usage` counted them, the cascade's escalations, and
wall time. The simulator judges nothing: the cascade's escalation share here says how its band
treats the simulator's text, not real answers (bench/cascade_band.py measures that on labels).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

SHARED = Path(__file__).resolve().parents[2] / "shared"
ENGINES = {"openai": {"RAGMETER_JUDGE": "openai"}, "ragas": {"RAGMETER_JUDGE": "ragas"},
           "cascade": {"RAGMETER_JUDGE": "cascade"},
           "cascade-llm-decompose": {"RAGMETER_JUDGE": "cascade", "RAGMETER_CASCADE_DECOMPOSE": "llm"}}
USAGE = ("chat_calls", "prompt_tokens", "completion_tokens", "embedding_calls", "cached_calls", "escalated_claims",
         "escalated_statements", "escalated_contexts")


def wait_for(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {seconds} s")


async def post_all(base: str, samples: list[dict], per_request: int) -> tuple[list[dict], float]:
    chunks = [samples[i:i + per_request] for i in range(0, len(samples), per_request)]
    async with httpx.AsyncClient(timeout=1200) as client:
        start = time.perf_counter()
        replies = await asyncio.gather(*(client.post(f"{base}/v1/evaluate", json={"samples": c}) for c in chunks))
        wall = time.perf_counter() - start
    for reply in replies:
        reply.raise_for_status()
    return [r for reply in replies for r in reply.json()["results"]], wall


def measure(engine: str, port: int, sim: str, samples: list[dict], per_request: int) -> dict:
    env = {**os.environ, **ENGINES[engine], "OPENAI_BASE_URL": f"{sim}/v1", "OPENAI_API_KEY": "sim",
           "RAGMETER_DB": f"sqlite:////tmp/ragmeter_engine_cost_{port}.db"}
    service = subprocess.Popen([sys.executable, "-m", "ragmeter.service.cli", "serve", "--port", str(port),
                                "--log-level", "warning"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/health", service)
        httpx.post(f"{sim}/stats/reset")
        results, wall = asyncio.run(post_all(base, samples, per_request))
        stats = httpx.get(f"{sim}/stats").json()
    finally:
        service.terminate()
        service.wait(timeout=30)
    n = len(results)
    usage = {k: sum(r["usage"].get(k, 0) for r in results) for k in USAGE}
    claims = sum(len(r["details"]["faithfulness"].get("claims") or []) for r in results)
    return {"engine": engine, "judge": results[0]["judge"], "samples": n, "wall_s": round(wall, 1),
            "sim_chat_calls_per_sample": round(stats["chat_requests"] / n, 2),
            "sim_prompt_tokens_per_sample": round(stats["prompt_tokens"] / n, 1),
            "usage_per_sample": {k: round(v / n, 2) for k, v in usage.items()},
            "escalated_claim_share": round(usage["escalated_claims"] / claims, 3) if claims else None,
            "samples_with_errors": sum(bool(r["errors"]) for r in results),
            "max_concurrent": stats["max_concurrent"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", choices=list(ENGINES), default=list(ENGINES))
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "rag_bench_100.jsonl")
    parser.add_argument("--latency-ms", default="300")
    parser.add_argument("--jitter-ms", default="50")
    parser.add_argument("--per-request", type=int, default=50)
    parser.add_argument("--port", type=int, default=8220, help="first port; the simulator takes the last one")
    args = parser.parse_args()
    samples = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    sim_port = args.port + len(ENGINES)
    sim = subprocess.Popen([sys.executable, str(SHARED / "judge-sim" / "judge_sim.py"), "--port", str(sim_port),
                            "--latency-ms", args.latency_ms, "--jitter-ms", args.jitter_ms],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sim_url = f"http://127.0.0.1:{sim_port}"
    try:
        wait_for(f"{sim_url}/stats", sim)
        for i, engine in enumerate(args.engines):
            print(json.dumps(measure(engine, args.port + i, sim_url, samples, args.per_request)), flush=True)
    finally:
        sim.terminate()
    return 0


if __name__ == "__main__":
    sys.exit(main())
