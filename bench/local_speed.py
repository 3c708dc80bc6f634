"""Speed of the embedded judge: cold start and samples per second, all four metrics, one process.

    python bench/local_speed.py [--data rag_bench_100.jsonl] [--repeats 3] [--no-diagnostics]

Cold start is the time from importing the package to the first scored sample. Throughput is
measured on a fresh judge (empty caches) so no context is read for free; a second pass over the
same samples shows the cached figure. Then the same with every registered metric on ("all_metrics":
the diagnostics of #22 too, so per-chunk support, the answer-against-reference comparison and the
whole answer's and reference's embeddings), with the null scores counted by reason.
"""
from __future__ import annotations

import time

started = time.perf_counter()

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

from ragmeter.metrics import DEFAULT_METRICS, Sample, evaluate, score_sample  # noqa: E402
from ragmeter.metrics.registry import METRIC_NAMES  # noqa: E402
from ragmeter.metrics.judges.embedded import text  # noqa: E402
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="rag_bench_100.jsonl")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-diagnostics", action="store_true", help="only the four metrics' figure")
    args = parser.parse_args()
    samples = [Sample.model_validate_json(line) for line in (DATA / args.data).read_text().splitlines()]

    judge = EmbeddedJudge()
    await score_sample(samples[0], judge)
    cold = time.perf_counter() - started

    runs = []
    for _ in range(args.repeats):
        judge = EmbeddedJudge(encoder=judge.encoder, model=judge.model)  # empty caches, loaded encoder
        text._sentences.cache_clear()
        t0 = time.perf_counter()
        results = await evaluate(samples, judge)
        runs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    await evaluate(samples, judge)
    cached = time.perf_counter() - t0
    nulls = sum(getattr(r.scores, m) is None for r in results for m in DEFAULT_METRICS)
    print(json.dumps({"samples": len(samples), "cold_start_s": round(cold, 2),
                      "samples_per_s": round(len(samples) / min(runs), 1),
                      "samples_per_s_runs": [round(len(samples) / r, 1) for r in runs],
                      "samples_per_s_cached_contexts": round(len(samples) / cached, 1),
                      "null_scores": nulls, "errors": sum(len(r.errors) for r in results)}))
    if args.no_diagnostics:
        return
    # Every registered metric at once (the citation checks are null here: the set has no citation markers).
    runs = []
    for _ in range(args.repeats):
        judge = EmbeddedJudge(encoder=judge.encoder, model=judge.model)
        text._sentences.cache_clear()
        t0 = time.perf_counter()
        results = await evaluate(samples, judge, METRIC_NAMES)
        runs.append(time.perf_counter() - t0)
    reasons = Counter(f"{m}:{getattr(r.details, m).reason}" for r in results for m in METRIC_NAMES
                      if getattr(r.scores, m) is None)
    print(json.dumps({"run": "all_metrics", "metrics": len(METRIC_NAMES), "samples": len(samples),
                      "samples_per_s": round(len(samples) / min(runs), 1),
                      "samples_per_s_runs": [round(len(samples) / r, 1) for r in runs],
                      "chat_calls": sum(r.usage.chat_calls for r in results), "null_scores": dict(reasons),
                      "errors": sum(len(r.errors) for r in results)}))


if __name__ == "__main__":
    asyncio.run(main())
