"""Checks the embedded judge's answer relevancy ordering on answers built from the HotpotQA dev set.

    python bench/relevance_order.py

For each question: `full` = the short answer plus every supporting sentence; `direct` = the
short answer alone; `partial` = the supporting sentences of one of the two gold paragraphs only
(one hop of the question, no final answer); `off_topic` = the full answer of another question;
`noncommittal` = a refusal. Prints mean scores and how often each pair is in the right order.
"""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np

from ragmeter.metrics import Sample, evaluate
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "hotpotqa_dev.jsonl"
REFUSAL = "I could not find that in the provided documents."


def answers(rows: list[dict]) -> dict[str, list[str]]:
    kinds: dict[str, list[str]] = {"full": [], "direct": [], "partial": [], "off_topic": [], "noncommittal": []}
    for i, row in enumerate(rows):
        support = row["supporting_sentences"]
        gold = [c for c, g in zip(row["retrieved_contexts"], row["context_is_gold"], strict=True) if g]
        first = [s for s in support if s in gold[0]] or support[:1]
        kinds["full"].append(row["short_answer"].rstrip(".") + ". " + " ".join(support))
        kinds["direct"].append(row["short_answer"])
        kinds["partial"].append(" ".join(first))
        other = rows[(i + 1) % len(rows)]
        kinds["off_topic"].append(other["short_answer"].rstrip(".") + ". " + " ".join(other["supporting_sentences"]))
        kinds["noncommittal"].append(REFUSAL)
    return kinds


async def main() -> None:
    rows = [json.loads(line) for line in DATA.read_text().splitlines()]
    judge = EmbeddedJudge()
    scores = {}
    for kind, texts in answers(rows).items():
        samples = [Sample(user_input=r["user_input"], retrieved_contexts=r["retrieved_contexts"], response=t)
                   for r, t in zip(rows, texts, strict=True)]
        results = await evaluate(samples, judge, ["answer_relevancy"])
        scores[kind] = np.array([r.scores.answer_relevancy for r in results])
    print(json.dumps({"mean": {k: round(float(v.mean()), 3) for k, v in scores.items()},
                      "right_order": {f"{a} > {b}": round(float((scores[a] > scores[b]).mean()), 3)
                                      for a, b in [("full", "partial"), ("partial", "off_topic"),
                                                   ("off_topic", "noncommittal"), ("full", "off_topic"),
                                                   ("direct", "off_topic")]}}, indent=1))


if __name__ == "__main__":
    asyncio.run(main())
