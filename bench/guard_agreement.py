"""Do the streaming guard's claim verdicts agree with the embedded judge's on the whole answer?

    python bench/guard_agreement.py [--data rag_bench_100.jsonl qags_cnndm_summaries.jsonl ...] [--rows 200]

For each answer, the full judge (`verify_sync` on the whole contexts and answer, as /v1/evaluate runs it) gives
one verdict per claim. The guard's path is run without a server, as its worker runs it: the answer fed a token
at a time to `SentenceBuffer`, the streaming sentence's candidates prefetched as it grows, each complete
sentence's claims judged by `judge_batch`. Each side has its own judge (so neither reuses the other's encoded
sentences). Claims are paired by their text, in order; prints the share of claims with the same verdict, and
each kind of difference (another verdict; a claim only one side made, from splitting the answer differently).
"""
from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

from ragmeter.metrics.judgements import Decomposition, Needs
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge, split_claims
from ragmeter.metrics.sample import Sample
from ragmeter.metrics.streaming import SentenceBuffer, StreamContext, index_contexts, judge_batch, prefetch

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOKEN = re.compile(r"\s*[\w']+|\s*[^\w\s]")
PREFETCH_EVERY = 12  # as the server asks (service/server/api/guard.py)


def full_verdicts(judge: EmbeddedJudge, row: dict) -> list[tuple[str, str]]:
    sample = Sample(user_input=row["user_input"], retrieved_contexts=row["retrieved_contexts"],
                    response=row["response"])
    parts = Decomposition(claims=split_claims(row["response"]))
    return [(v.claim, v.verdict) for v in judge.verify_sync(sample, parts, Needs(claims=True)).claims]


def guard_verdicts(judge: EmbeddedJudge, row: dict) -> list[tuple[str, str]]:
    stream = StreamContext(row["user_input"], row["retrieved_contexts"])
    index_contexts(judge, stream)
    buffer, asked = SentenceBuffer(), 0
    out: list[tuple[str, str]] = []
    for token in [*TOKEN.findall(row["response"]), None]:
        sentences = buffer.finish() if token is None else buffer.feed(token)
        if sentences:
            asked = 0
        elif len(buffer.pending) >= asked + PREFETCH_EVERY:
            asked = len(buffer.pending)
            prefetch(judge, stream, buffer.pending, 1)
        for sentence in sentences:
            claims = stream.claims(sentence.text)
            if claims:
                out += [(v.claim, v.verdict) for v in judge_batch(judge, [(stream, claims)])[0]]
    return out


def _bare(claim: str) -> str:
    return re.sub(r"\W+", " ", claim).strip().lower()


def compare(full: list[tuple[str, str]], guard: list[tuple[str, str]], kinds: Counter, examples: dict) -> int:
    """Claims with the same verdict on both sides; the differences are counted in `kinds`.

    Claims pair by text; then the rest by text without punctuation, or by one holding the other (a sentence
    split at another point), counted apart as split differently.
    """
    same = 0
    left = list(guard)
    unpaired = []
    for claim, verdict in full:
        match = next((g for g in left if g[0] == claim), None)
        if match is None:
            unpaired.append((claim, verdict))
            continue
        left.remove(match)
        if match[1] == verdict:
            same += 1
        else:
            _note(kinds, examples, f"verdict differs: full {verdict}, guard {match[1]}", claim)
    for claim, verdict in unpaired:
        bare = _bare(claim)
        match = next((g for g in left if _bare(g[0]) == bare or bare in _bare(g[0]) or _bare(g[0]) in bare), None)
        if match is None:
            _note(kinds, examples, "claim only in the full judge's split", claim)
            continue
        left.remove(match)
        agree = "same verdict" if match[1] == verdict else f"full {verdict}, guard {match[1]}"
        _note(kinds, examples, f"split differently ({agree})", f"{claim} | {match[0]}")
    for claim, _ in left:
        _note(kinds, examples, "claim only in the guard's split", claim)
    return same


def _note(kinds: Counter, examples: dict, kind: str, claim: str) -> None:
    kinds[kind] += 1
    examples.setdefault(kind, claim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["rag_bench_100.jsonl", "qags_cnndm_summaries.jsonl",
                                                      "halueval_summarization_dev.jsonl"])
    parser.add_argument("--rows", type=int, default=200, help="answers per data set (the first ones)")
    args = parser.parse_args()
    full_judge, guard_judge = EmbeddedJudge(), EmbeddedJudge()
    for name in args.data:
        rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()[:args.rows]]
        kinds: Counter = Counter()
        examples: dict[str, str] = {}
        same = total = 0
        for row in rows:
            full = full_verdicts(full_judge, row)
            same += compare(full, guard_verdicts(guard_judge, row), kinds, examples)
            total += len(full)
        print(f"{name}: {len(rows)} answers, {total} claims (full judge), same verdict {same} "
              f"({same / max(1, total):.1%})")
        for kind, count in kinds.most_common():
            print(f"  {kind}: {count}, e.g. {examples[kind][:160]!r}")


if __name__ == "__main__":
    main()
