"""Gate calibration checked on rows it did not see: choose the threshold on one half, measure on the other.

    python bench/calibrate_holdout.py [--cache-dir /tmp/ragmeter-bench]

Sources (../shared/data), embedded judge, faithfulness only:
- QAGS CNN/DM sentences (714 rows, never used to fit the judge; human labels);
- HaluEval summarization, the holdout part only (900 rows the support scorer never saw).
Each source is split in two by a hash of its item (the article, or the document), so both answers
of an item fall in one half. The product's `calibrate` picks the threshold on the first half for
each target; the second half says what that threshold achieves. The target is met when precision
(or recall) on the checking half is within 0.05 of it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ragmeter.metrics import Sample
from ragmeter.service.accuracy.reports import hallucination_score
from ragmeter.service.accuracy.split import pair_key, read_rows
from ragmeter.service.experiments.calibration import Target, TooFewRows, calibrate, point
from ragmeter.service.in_process import score_samples

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = {"QAGS CNN/DM sentences": (DATA / "qags_cnndm_sentences.jsonl", "all"),
           "HaluEval summarization, holdout": (DATA / "halueval_summarization_dev.jsonl", "holdout")}
TARGETS = ["precision=0.3", "precision=0.4", "precision=0.5", "precision=0.6", "precision=0.7", "precision=0.8", "precision=0.9",
           "recall=0.8", "recall=0.9", "balanced"]
TOLERANCE = 0.05


def in_first_half(row: dict) -> bool:
    """Half the items, by a hash of what both answers of an item share (salted apart from the training split)."""
    return hashlib.sha256(("calibrate\x00" + pair_key(row)).encode()).digest()[0] < 128


def scores(name: str, path: Path, split: str, cache_dir: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hallucination score, label and half of each row that could be scored (cached per source)."""
    rows = read_rows(path, split)
    cache = cache_dir / (path.stem + f".{split}.faithfulness.jsonl")
    if not cache.exists():
        samples = [Sample.model_validate(r) for r in rows]
        results = score_samples(samples, ["faithfulness"])
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("".join(f'{{"score": {"null" if (s := hallucination_score(r)) is None else s}}}\n'
                                 for r in results))
    values = [line for line in cache.read_text().splitlines() if line.strip()]
    kept = [(json.loads(v)["score"], bool(r["label_hallucinated"]), in_first_half(r)) for v, r in zip(values, rows)]
    kept = [k for k in kept if k[0] is not None]
    return tuple(np.array(column) for column in zip(*kept))  # type: ignore[return-value]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/ragmeter-bench"))
    args = parser.parse_args()
    console = Console(width=170)
    for name, (path, split) in SOURCES.items():
        s, y, first = scores(name, path, split, args.cache_dir)
        table = Table(title=f"{name}: calibrate on {first.sum()} rows ({y[first].sum()} hallucinated), check on "
                            f"{(~first).sum()} rows ({y[~first].sum()} hallucinated); embedded judge")
        for column in ("target", "met on calibration half", "threshold", "precision calib -> check",
                       "recall calib -> check", "bal. acc. check", f"check >= target - {TOLERANCE}",
                       "check - target"):
            table.add_column(column)
        for text in TARGETS:
            target = Target.parse(text)
            try:
                chosen = calibrate(s[first], y[first], target)
            except TooFewRows as exc:
                table.add_row(text, f"refused: {exc}", "", "", "", "", "", "")
                continue
            check = point(s[~first], y[~first], chosen.point.threshold)
            fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
            achieved = {"precision": check.precision, "recall": check.recall}.get(target.kind)
            held = "-" if target.value is None or not chosen.met else \
                ("yes" if achieved is not None and achieved >= target.value - TOLERANCE else "NO")
            gap = "-" if target.value is None or achieved is None else f"{achieved - target.value:+.3f}"
            table.add_row(text, "yes" if chosen.met else "no (closest)", str(chosen.point.threshold),
                          f"{fmt(chosen.point.precision)} -> {fmt(check.precision)}",
                          f"{fmt(chosen.point.recall)} -> {fmt(check.recall)}", fmt(check.balanced_accuracy), held, gap)
        console.print(table)


if __name__ == "__main__":
    main()
