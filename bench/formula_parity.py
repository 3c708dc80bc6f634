"""Formula parity: the same verdicts through ragmeter's formulas and through ragas' own metric code.

    python bench/formula_parity.py [--cases 5000]

A scripted LLM hands ragas' metrics (`ragas.metrics.collections`) random per-claim, per-statement
and per-context verdicts and random question embeddings; ragmeter's formulas get the very same
verdicts. Prints, per metric, how many cases agree exactly, the largest difference, and each kind
of case where they differ, with an example. Needs the extra: pip install 'ragmeter[ragas]'.

Answer correctness is checked the same way against ragas' AnswerCorrectness. RAGChecker's metrics
(Ru et al., 2024) are checked against `ragchecker_reference`, an independent numpy rendering of the
paper's formulas over the claim-by-chunk entailment matrices, on random matrices. Where RAGChecker
scores 0 for lack of input (no claims, no statements, no reference statement in any chunk) ragmeter
is null with a reason: those cases are printed as their own kind.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import random
import sys
from collections import Counter

import numpy as np
from ragmeter.metrics.answer_relevancy import answer_relevancy, cosine_similarities
from ragmeter.metrics.context_precision import context_precision
from ragmeter.metrics.context_recall import context_recall
from ragmeter.metrics.faithfulness import faithfulness
from ragmeter.metrics.judgements import (ClaimVerdict, Comparison, Decomposition, EntailmentVerdict, StatementVerdict,
                                         Verification)
from ragmeter.metrics.metric import Judged
from ragmeter.metrics.registry import BY_NAME
from ragmeter.metrics.sample import Sample

RAGCHECKER = ("overall_precision", "overall_recall", "overall_f1", "claim_recall", "retriever_context_precision",
              "context_utilization", "noise_sensitivity_relevant", "noise_sensitivity_irrelevant", "hallucination",
              "self_knowledge", "faithfulness")


def scripted_ragas():
    """ragas' metrics on an LLM and embeddings that answer from a queue the bench fills."""
    from ragas.embeddings.base import BaseRagasEmbedding
    from ragas.llms.base import InstructorBaseRagasLLM
    from ragas.metrics import collections as rc

    class Scripted(InstructorBaseRagasLLM):
        def __init__(self):
            self.queue: list = []

        def generate(self, prompt, response_model):
            return self.queue.pop(0)

        async def agenerate(self, prompt, response_model):
            return response_model.model_validate(self.queue.pop(0))

    class Vectors(BaseRagasEmbedding):
        def __init__(self):
            super().__init__()
            self.table: dict[str, list[float]] = {}

        def embed_text(self, text, **kwargs):
            return self.table[text]

        async def aembed_text(self, text, **kwargs):
            return self.table[text]

    llm, vectors = Scripted(), Vectors()
    return llm, vectors, {"faithfulness": rc.Faithfulness(llm=llm), "context_precision": rc.ContextPrecision(llm=llm),
                          "context_recall": rc.ContextRecall(llm=llm),
                          "answer_relevancy": rc.AnswerRelevancy(llm=llm, embeddings=vectors, strictness=3),
                          "answer_correctness": rc.AnswerCorrectness(llm=llm, embeddings=vectors)}


def ours(score) -> float | None:
    return score.score


def theirs(value: float) -> float | None:
    return None if math.isnan(value) else value


async def one_case(rng: random.Random, llm, vectors, metrics) -> dict[str, tuple[float | None, float | None, str]]:
    out = {}
    n = rng.choice([0, 1, 2, 3, 5, 8])
    verdicts = [rng.random() < 0.7 for _ in range(n)]
    llm.queue = [{"statements": [f"s{i}" for i in range(n)]},
                 {"statements": [{"statement": f"s{i}", "reason": "r", "verdict": int(v)}
                                 for i, v in enumerate(verdicts)]}]
    ragas = (await metrics["faithfulness"].ascore(user_input="q", response="a", retrieved_contexts=["c"])).value
    mine = faithfulness([ClaimVerdict(claim=f"s{i}", verdict="supported" if v else "unsupported")
                         for i, v in enumerate(verdicts)])
    out["faithfulness"] = (ours(mine), theirs(ragas), "no claims" if n == 0 else "claims")

    k = rng.choice([1, 2, 3, 5, 10])
    useful = [rng.random() < 0.4 for _ in range(k)]
    llm.queue = [{"reason": "r", "verdict": int(u)} for u in useful]
    ragas = (await metrics["context_precision"].ascore(user_input="q", reference="x",
                                                        retrieved_contexts=[f"c{i}" for i in range(k)])).value
    out["context_precision"] = (ours(context_precision(useful)), theirs(ragas),
                                "no useful context" if not any(useful) else "some useful")

    m = rng.choice([0, 1, 2, 4, 7])
    attributed = [rng.random() < 0.6 for _ in range(m)]
    llm.queue = [{"classifications": [{"statement": f"t{i}", "reason": "r", "attributed": int(a)}
                                      for i, a in enumerate(attributed)]}]
    ragas = (await metrics["context_recall"].ascore(user_input="q", retrieved_contexts=["c"], reference="x")).value
    mine = context_recall([StatementVerdict(statement=f"t{i}", attributable=a) for i, a in enumerate(attributed)])
    out["context_recall"] = (ours(mine), theirs(ragas), "no statements" if m == 0 else "statements")

    noncommittal = rng.random() < 0.1
    questions = [f"g{i}" for i in range(3)]
    dim = 8
    vectors.table = {t: list(np.random.default_rng(rng.randrange(2**32)).normal(size=dim)) for t in ["q", *questions]}
    if rng.random() < 0.5:  # questions close to the asked one, as for a relevant answer
        vectors.table.update({g: list(np.add(vectors.table["q"], np.random.default_rng(i).normal(0, 0.3, dim)))
                              for i, g in enumerate(questions)})
    llm.queue = [{"question": g, "noncommittal": int(noncommittal)} for g in questions]
    ragas = (await metrics["answer_relevancy"].ascore(user_input="q", response="a")).value
    sims = cosine_similarities(vectors.table["q"], [vectors.table[g] for g in questions])
    mine = answer_relevancy(sims, noncommittal)
    kind = "noncommittal" if noncommittal else "negative mean cosine" if sum(sims) < 0 else "positive mean cosine"
    out["answer_relevancy"] = (ours(mine), theirs(ragas), kind)
    out["answer_correctness"] = await answer_correctness_case(rng, llm, vectors, metrics["answer_correctness"])
    return out


async def answer_correctness_case(rng: random.Random, llm, vectors, metric) -> tuple[float | None, float | None, str]:
    """Random TP/FP/FN classifications and embeddings through ragas' AnswerCorrectness and through ragmeter's."""
    tp, fp = rng.choice([0, 0, 1, 2, 3]), rng.choice([0, 1, 2])
    matched, fn = tp if rng.random() < 0.7 else rng.choice([0, 1]), rng.choice([0, 0, 1, 3])
    answer = [f"a{i}" for i in range(tp + fp)]
    reference = [f"r{j}" for j in range(matched + fn)]
    dim = 8
    base = np.random.default_rng(rng.randrange(2**32)).normal(size=dim)
    other = base + np.random.default_rng(rng.randrange(2**32)).normal(0, rng.choice([0.2, 1.0, 3.0]), dim)
    vectors.table = {"response": list(base), "reference": list(other)}

    def reasons(names: list[str]) -> list[dict]:
        return [{"statement": s, "reason": "r"} for s in names]

    llm.queue = [{"statements": answer}, {"statements": reference}]
    if answer and reference:
        llm.queue.append({"TP": reasons(answer[:tp]), "FP": reasons(answer[tp:]), "FN": reasons(reference[matched:])})
    ragas = (await metric.ascore(user_input="q", response="response", reference="reference")).value
    judged = Judged(Decomposition(claims=answer, statements=reference), Verification(), None,
                    {"response": list(base), "reference": list(other)}, Comparison(
                        claims=[EntailmentVerdict(text=a, entailed=i < tp) for i, a in enumerate(answer)],
                        statements=[EntailmentVerdict(text=r, entailed=j < matched) for j, r in enumerate(reference)]))
    mine = BY_NAME["answer_correctness"].evaluate(Sample(user_input="q", response="response", reference="reference"),
                                                  judged, True)
    cosine = cosine_similarities(list(base), [list(other)])[0]
    kind = ("no claims on either side" if not answer and not reference else "no answer claims" if not answer
            else "no reference statements" if not reference else "negative cosine" if cosine < 0
            else "claims on both sides")
    return ours(mine), theirs(ragas), kind


def ragchecker_reference(answer2response: np.ndarray, response2answer: np.ndarray, retrieved2response: np.ndarray,
                         retrieved2answer: np.ndarray) -> dict[str, float]:
    """RAGChecker's metrics from its four entailment arrays, as the paper defines them.

    answer2response[i]: the reference entails answer claim i; response2answer[j]: the answer entails
    reference statement j; retrieved2response[i, k] / retrieved2answer[j, k]: chunk k entails the claim /
    the statement. An empty input scores 0, as RAGChecker's code does.
    """
    def mean(values) -> float:
        values = np.asarray(values)
        return float(values.mean()) if values.size else 0.0

    precision, recall = mean(answer2response), mean(response2answer)
    in_chunks = retrieved2answer.any(axis=1) if retrieved2answer.size else np.zeros(0, bool)
    relevant = retrieved2answer.any(axis=0) if retrieved2answer.size else np.zeros(retrieved2response.shape[1], bool)
    faithful = retrieved2response.any(axis=1)
    from_relevant = (retrieved2response & relevant).any(axis=1)
    from_irrelevant = (retrieved2response & ~relevant).any(axis=1) & ~from_relevant
    wrong = ~answer2response
    return {
        "overall_precision": precision, "overall_recall": recall,
        "overall_f1": 2 * precision * recall / (precision + recall) if precision > 0 and recall > 0 else 0.0,
        "claim_recall": mean(in_chunks), "retriever_context_precision": mean(relevant) if in_chunks.size else 0.0,
        "context_utilization": float((in_chunks & response2answer).sum() / in_chunks.sum()) if in_chunks.any()
        else 0.0,
        # Without reference statements no chunk can be told relevant: RAGChecker scores both 0.
        "noise_sensitivity_relevant": mean(from_relevant & wrong) if in_chunks.size else 0.0,
        "noise_sensitivity_irrelevant": mean(from_irrelevant & wrong) if in_chunks.size else 0.0,
        "hallucination": mean(~faithful & wrong), "self_knowledge": mean(~faithful & answer2response),
        "faithfulness": mean(faithful),
    }


def ragchecker_case(rng: random.Random) -> dict[str, tuple[float | None, float | None, str]]:
    """Random entailment arrays through ragmeter's metrics (as per-chunk verdicts) and through the reference."""
    n, m, k = rng.choice([0, 1, 2, 3, 5, 8]), rng.choice([0, 1, 2, 4, 6]), rng.choice([1, 2, 3, 5])
    density = rng.choice([0.1, 0.3, 0.6])
    a2r = np.array([rng.random() < 0.6 for _ in range(n)], bool)
    r2a = np.array([rng.random() < 0.5 for _ in range(m)], bool)
    c2resp = np.array([[rng.random() < density for _ in range(k)] for _ in range(n)], bool).reshape(n, k)
    c2ans = np.array([[rng.random() < density for _ in range(k)] for _ in range(m)], bool).reshape(m, k)
    contexts = [f"chunk number {i} says something." for i in range(k)]

    def support(row: np.ndarray) -> tuple[list[int], str]:
        chunks = [int(i) for i in np.flatnonzero(row)]
        return chunks, contexts[chunks[0]] if chunks else ""

    claims = [f"claim {i}" for i in range(n)]
    statements = [f"statement {j}" for j in range(m)]
    claim_verdicts = [ClaimVerdict(claim=c, verdict="supported" if support(row)[0] else "unsupported",
                                   contexts=support(row)[0], evidence=support(row)[1])
                      for c, row in zip(claims, c2resp, strict=True)]
    statement_verdicts = [StatementVerdict(statement=s, attributable=bool(support(row)[0]), contexts=support(row)[0],
                                           evidence=support(row)[1]) for s, row in zip(statements, c2ans, strict=True)]
    verification = Verification(claims=claim_verdicts, statements=statement_verdicts)
    comparison = Comparison(
        claims=[EntailmentVerdict(text=c, entailed=bool(e)) for c, e in zip(claims, a2r, strict=True)],
        statements=[EntailmentVerdict(text=s, entailed=bool(e)) for s, e in zip(statements, r2a, strict=True)])
    judged = Judged(Decomposition(claims=claims, statements=statements), verification, None, None, comparison)
    sample = Sample(user_input="q", retrieved_contexts=contexts, response="a", reference="r")
    reference = ragchecker_reference(a2r, r2a, c2resp, c2ans)
    kind = ("no claims" if n == 0 else "no statements" if m == 0
            else "no statement in chunks" if not c2ans.any() else "claims and statements")
    return {name: (BY_NAME[name].evaluate(sample, judged, True).score, reference[name], kind) for name in RAGCHECKER}


async def run(cases: int, seed: int, with_ragas: bool = True) -> None:
    llm, vectors, metrics = scripted_ragas() if with_ragas else (None, None, {})
    rng = random.Random(seed)
    tally: dict[str, Counter] = {}
    worst: dict[str, float] = {}
    examples: dict[tuple[str, str, str], tuple] = {}
    for _ in range(cases):
        outcomes = {**(await one_case(rng, llm, vectors, metrics) if with_ragas else {}), **ragchecker_case(rng)}
        for metric, (mine, ragas, kind) in outcomes.items():
            if mine is None or ragas is None:
                same = mine is None and ragas is None
                gap = 0.0 if same else math.inf
            else:
                gap = abs(mine - ragas)
                same = gap == 0.0
            verdict = "exact" if same else "within 1e-9" if gap <= 1e-9 else "differs"
            tally.setdefault(metric, Counter())[(kind, verdict)] += 1
            if math.isfinite(gap):
                worst[metric] = max(worst.get(metric, 0.0), gap)
            examples.setdefault((metric, kind, verdict), (mine, ragas))
    for metric, counts in tally.items():
        print(f"{metric}: largest finite difference {worst.get(metric, 0.0):.2e}")
        for (kind, verdict), n in sorted(counts.items()):
            mine, ragas = examples[(metric, kind, verdict)]
            print(f"  {kind:22} {verdict:12} {n:6}   e.g. ragmeter {mine!r:24} theirs {ragas!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ragchecker-only", action="store_true",
                        help="only RAGChecker's metrics against the reference formulas (needs no ragas)")
    args = parser.parse_args()
    asyncio.run(run(args.cases, args.seed, with_ragas=not args.ragchecker_only))
    return 0


if __name__ == "__main__":
    sys.exit(main())
