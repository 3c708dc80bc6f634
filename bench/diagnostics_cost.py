"""What #22's diagnostics cost the LLM judge, beside what ragas and RAGChecker would spend on the same metrics.

    python bench/diagnostics_cost.py [--latency-ms 50 --concurrency 16 --contexts 5]

Starts ../shared's judge simulator on a free loopback port and scores rag_bench_100.jsonl with the LLM
judge twice, each time on a fresh reply cache: (a) today's four default metrics, (b) every judgement of
#22 on as well (per-chunk support in the verify call, the compare call, and the answer and reference
embeddings that answer correctness blends in). It prints chat calls and prompt and completion tokens per
sample, as the simulator counted them. The simulator judges nothing: these are costs, not scores.

Beside them, the chat calls ragas and RAGChecker would make for the same metrics, from their published
call pattern (below), with the claim counts this run's decompositions had and `--contexts` chunks.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import time

import httpx
from llm_cost import SHARED, judge_sim

from ragmeter.metrics import DEFAULT_METRICS, Sample, evaluate
from ragmeter.metrics.judgements import Decomposition, Needs, Usage
from ragmeter.metrics.judges.cache import ReplyCache
from ragmeter.metrics.judges.llm import LLMJudge

# Every judgement of the four metrics and of #22's diagnostics.
EVERYTHING = Needs(claims=True, relevance=True, statements=True, context_verdicts=True, chunk_support=True,
                   correctness=True)

# The call patterns assumed, read from each tool's code:
# - ragas 0.4 (src/ragas/metrics/collections): Faithfulness 2 calls (statements, then verdicts), AnswerRelevancy
#   3 (one question per call, strictness 3), ContextPrecision 1 per context, ContextRecall 1: 6 + k, which
#   ../shared/README.md measured at 10.98 with k = 5. AnswerCorrectness (answer_correctness/metric.py): 3 calls
#   (statements of the response, statements of the reference, one TP/FP/FN classification) and 2 embeddings.
# - RAGChecker (amazon-science/RAGChecker ragchecker/evaluator.py, on RefChecker's LLMExtractor and LLMChecker
#   with its defaults joint_check=True, joint_check_num=5): 1 extraction call per text (response, reference);
#   the claims are then checked 5 to a prompt against one reference at a time: response claims against the
#   reference answer, reference claims against the response, and both against each retrieved chunk alone.
RAGAS_FOUR = "ragas four metrics: 6 + k"
RAGAS_CORRECTNESS = 3
JOINT = 5


def ragchecker_calls(response_claims: int, reference_claims: int, chunks: int) -> int:
    """Chat calls RAGChecker makes for all its metrics on one sample."""
    def batches(n: int) -> int:
        return math.ceil(n / JOINT)

    checks = batches(response_claims) + batches(reference_claims) + chunks * (batches(response_claims)
                                                                              + batches(reference_claims))
    return 2 + checks


async def judge_everything(sample: Sample, judge: LLMJudge, usage: Usage) -> Decomposition:
    """Every judgement the four metrics and #22's diagnostics read, the way scoring.score_sample asks for them."""
    parts = await judge.decompose(sample, EVERYTHING, usage)
    await asyncio.gather(judge.verify(sample, parts, EVERYTHING, usage), judge.relevance(sample, parts, usage),
                         judge.compare(sample, parts, usage),
                         judge.embed([sample.response, sample.reference or ""], usage))
    return parts


async def run(args: argparse.Namespace, base: str) -> None:
    samples = [Sample.model_validate_json(line) for line in (SHARED / "data" / args.data).read_text().splitlines()]
    n = len(samples)

    def fresh_judge() -> LLMJudge:
        return LLMJudge.create(model="sim", embedding_model="sim-embed", base_url=f"{base}/v1", api_key="sim",
                               concurrency=args.concurrency, timeout=30.0, max_retries=4, cache=ReplyCache())

    def figures(label: str, wall: float) -> dict:
        stats = httpx.get(f"{base}/stats").json()
        return {"run": label, "samples": n, "wall_s": round(wall, 2),
                "chat_calls_per_sample": round(stats["chat_requests"] / n, 2),
                "prompt_tokens_per_sample": round(stats["prompt_tokens"] / n, 1),
                "completion_tokens_per_sample": round(stats["completion_tokens"] / n, 1),
                "embedding_requests_per_sample": round(stats["embedding_requests"] / n, 2)}

    judge = fresh_judge()
    httpx.post(f"{base}/stats/reset")
    started = time.perf_counter()
    results = await evaluate(samples, judge)
    four = figures("four_metrics", time.perf_counter() - started)
    four["null_scores"] = sum(getattr(r.scores, m) is None for r in results for m in DEFAULT_METRICS)
    await judge.aclose()
    print(json.dumps(four))

    judge = fresh_judge()
    httpx.post(f"{base}/stats/reset")
    usages = [Usage() for _ in samples]
    started = time.perf_counter()
    parts = await asyncio.gather(*(judge_everything(s, judge, u) for s, u in zip(samples, usages, strict=True)))
    everything = figures("all_judgements_of_22", time.perf_counter() - started)
    await judge.aclose()
    everything["extra_chat_calls_per_sample"] = round(everything["chat_calls_per_sample"]
                                                      - four["chat_calls_per_sample"], 2)
    print(json.dumps(everything))

    k = args.contexts
    response_claims = sum(len(p.claims) for p in parts) / n
    reference_claims = sum(len(p.statements) for p in parts) / n
    ragchecker = sum(ragchecker_calls(len(p.claims), len(p.statements), k) for p in parts) / n
    print(json.dumps({
        "run": "published_call_patterns", "contexts": k,
        "claims_per_sample": {"response": round(response_claims, 2), "reference": round(reference_claims, 2)},
        "ragas_four_metrics_chat_calls": 6 + k,
        "ragas_answer_correctness_chat_calls": RAGAS_CORRECTNESS,
        "ragchecker_all_metrics_chat_calls": round(ragchecker, 2),
        "ragas_four_plus_answer_correctness_plus_ragchecker": round(6 + k + RAGAS_CORRECTNESS + ragchecker, 2),
        "ragmeter_all": everything["chat_calls_per_sample"],
    }))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="rag_bench_100.jsonl")
    parser.add_argument("--latency-ms", default="50")
    parser.add_argument("--jitter-ms", default="10")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--contexts", type=int, default=5, help="chunks per sample in the published patterns")
    args = parser.parse_args()
    with judge_sim(args.latency_ms, args.jitter_ms) as base:
        asyncio.run(run(args, base))

if __name__ == "__main__":
    main()
