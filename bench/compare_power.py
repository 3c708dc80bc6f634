"""How often the run comparison calls a real change, and how often it calls one where there is none.

    python bench/compare_power.py [--seeds 200] [--items 1000] [--cache /tmp/ragmeter-bench/halueval_qa.jsonl]

HaluEval QA dev (../shared/data): each question has a right and a hallucinated answer. The embedded
judge scores all 4,000 rows once (cached). For each seed, 1,000 questions are drawn; the baseline
run holds their right answers. The candidate is:
- the same scores again (a deterministic judge scoring the same set twice), or re-ordered;
- "same rate, other rows": both runs carry 5% hallucinated answers, on different questions
  (rows change, the expected mean does not);
- 2%, 5% or 10% of the questions swapped to their hallucinated answer (a real regression).
Each pair of runs goes through the product's comparison (`compare_runs`, paired bootstrap 95%
interval, 2,000 resamples). Printed per scenario and metric: the share of seeds with a "worse" and
with a "better" verdict (worse / better).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ragmeter.metrics import Sample
from ragmeter.service import rows as scored_rows
from ragmeter.service.analysis.comparison import RunRow, compare_runs
from ragmeter.service.in_process import score_rows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "halueval_qa_dev.jsonl"
METRICS = ["faithfulness", "answer_relevancy", "context_precision", "context_recall"]


def scored(cache: Path) -> dict[str, dict[str, scored_rows.ScoredRow]]:
    """{question number: {"right": row, "halu": row}}, scoring with the embedded judge once."""
    if not cache.exists():
        samples = [Sample.model_validate_json(line) for line in DATA.read_text().splitlines() if line.strip()]
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(scored_rows.encode(score_rows(samples, METRICS), "jsonl"))
    items: dict[str, dict] = {}
    for row in scored_rows.read(cache):
        _, number, kind = str(row.id).split("-")
        items.setdefault(number, {})[kind] = row
    return {k: v for k, v in items.items() if set(v) == {"right", "halu"}}


def run(items: dict, numbers: list[str], swapped: set[str]) -> list[RunRow]:
    """One run: each question's right answer, or its hallucinated one when swapped; ids name the question."""
    return [RunRow(items[n]["halu" if n in swapped else "right"].model_copy(update={"id": f"q{n}"}))
            for n in numbers]


def scenarios(items: dict, numbers: list[str], rng: np.random.Generator):
    base = run(items, numbers, set())
    n = len(numbers)
    yield "same set scored again", base, run(items, numbers, set())
    yield "same set, re-ordered", base, [base[i] for i in rng.permutation(n)]
    one, other = (set(rng.choice(numbers, size=n // 20, replace=False)) for _ in range(2))
    yield "5% hallucinated in both, other rows", run(items, numbers, one), run(items, numbers, other)
    for share in (0.02, 0.05, 0.10):
        yield f"{share:.0%} swapped to hallucinated", base, run(items, numbers, set(
            rng.choice(numbers, size=round(n * share), replace=False)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/ragmeter-bench/halueval_qa_scored.jsonl"))
    args = parser.parse_args()
    items = scored(args.cache)
    keys = sorted(items)
    counts: dict[str, np.ndarray] = {}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        numbers = list(rng.choice(keys, size=args.items, replace=False))
        for name, baseline, candidate in scenarios(items, numbers, rng):
            result = compare_runs(baseline, candidate, metrics=METRICS, top=0, seed=seed)
            verdicts = {c.metric: c.verdict for c in result.metrics}
            counts.setdefault(name, np.zeros((len(METRICS) + 1, 2)))
            counts[name] += [[verdicts.get(m) == "worse", verdicts.get(m) == "better"] for m in METRICS] + \
                [["worse" in verdicts.values(), "better" in verdicts.values()]]
    table = Table(title=f"run comparison on HaluEval QA, {args.items} questions, {args.seeds} seeds, embedded judge: "
                        "share of seeds with a worse / better verdict")
    for column in ("candidate vs baseline", *METRICS, "any metric"):
        table.add_column(column)
    for name, shares in counts.items():
        table.add_row(name, *[f"{w / args.seeds:.1%} / {b / args.seeds:.1%}" for w, b in shares])
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
