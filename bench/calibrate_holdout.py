"""Gate calibration checked on rows it did not see: choose the threshold on one half, measure on the other.

    python bench/calibrate_holdout.py [--cache-dir /tmp/ragmeter-bench]

Sources (../shared/data), embedded judge, faithfulness only:
- QAGS CNN/DM sentences (714 rows, never used to fit the judge; human labels);
- HaluEval summarization, the holdout part only (900 rows the support scorer never saw).
Each source is split in two by a hash of its item (the article, or the document), so both answers
of an item fall in one half. The product's calibration picks, on the first half, for each target,
the gate threshold alone at the weights' own claim cut-off (as before) and the claim cut-off with
the threshold (what `ragmeter calibrate` does for the embedded judge); the second half says what
each choice achieves. The target is met when precision (or recall) on the checking half is within
0.05 of it. Rows are scored once, at claim cut-off 1.0 (see `ragmeter calibrate`), and each cut-off's
hallucination scores are recomputed from the claim probabilities.
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
from ragmeter.metrics.judges.embedded.support import SupportModel
from ragmeter.service.analysis.accuracy.split import pair_key, read_rows
from ragmeter.service.cli.calibrate import claim_probabilities
from ragmeter.service.analysis.calibration import (Calibration, Target, TooFewRows, calibrate,
                                                      calibrate_with_cutoff, point, scores_at)
from ragmeter.service.in_process import score_samples
from ragmeter.service.settings import Settings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SOURCES = {"QAGS CNN/DM sentences": (DATA / "qags_cnndm_sentences.jsonl", "all"),
           "HaluEval summarization, holdout": (DATA / "halueval_summarization_dev.jsonl", "holdout")}
TARGETS = ["precision=0.3", "precision=0.35", "precision=0.4", "precision=0.45", "precision=0.5", "precision=0.6",
           "precision=0.7", "precision=0.8", "precision=0.9", "recall=0.8", "recall=0.9", "balanced"]
TOLERANCE = 0.05


def in_first_half(row: dict) -> bool:
    """Half the items, by a hash of what both answers of an item share (salted apart from the training split)."""
    return hashlib.sha256(("calibrate\x00" + pair_key(row)).encode()).digest()[0] < 128


def claims(path: Path, split: str, cache_dir: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Claim probabilities, label and half of each row that could be scored (cached per source)."""
    rows = read_rows(path, split)
    cache = cache_dir / (path.stem + f".{split}.claims.jsonl")
    if not cache.exists():
        samples = [Sample.model_validate(r) for r in rows]
        results = score_samples(samples, ["faithfulness"], settings=Settings(embedded_claim_cutoff=1.0))
        probabilities = claim_probabilities(results)
        if probabilities is None:
            raise RuntimeError("the judge gives no claim probabilities")
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("".join(json.dumps(None if p is None else p.tolist()) + "\n" for p in probabilities))
    values = [json.loads(line) for line in cache.read_text().splitlines() if line.strip()]
    kept = [(np.array(v, dtype=float), bool(r["label_hallucinated"]), in_first_half(r))
            for v, r in zip(values, rows, strict=True) if v is not None]
    return [k[0] for k in kept], np.array([k[1] for k in kept]), np.array([k[2] for k in kept])


def check(chosen: Calibration, claims: list[np.ndarray], y: np.ndarray, cutoff: float):
    """The chosen threshold (at its cut-off) on the checking half."""
    return point(scores_at(claims, cutoff), y, chosen.point.threshold)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/ragmeter-bench"))
    args = parser.parse_args()
    console = Console(width=190)
    own = SupportModel.load().claim_cutoff
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    for name, (path, split) in SOURCES.items():
        c, y, first = claims(path, split, args.cache_dir)
        calib = [p for p, f in zip(c, first, strict=True) if f]
        held = [p for p, f in zip(c, first, strict=True) if not f]
        table = Table(title=f"{name}: calibrate on {first.sum()} rows ({y[first].sum()} hallucinated), check on "
                            f"{(~first).sum()} rows ({y[~first].sum()} hallucinated); embedded judge, weights' "
                            f"claim cut-off {own}")
        for column in ("target", "how", "met on calib.", "cut-off", "threshold", "precision calib -> check",
                       "recall calib -> check", "bal. acc. check", f"check >= target - {TOLERANCE}",
                       "check - target"):
            table.add_column(column)
        for text in TARGETS:
            target = Target.parse(text)
            for how in ("threshold only", "cut-off + threshold"):
                try:
                    chosen = calibrate(list(scores_at(calib, own)), list(y[first]), target) if how == "threshold only" \
                        else calibrate_with_cutoff(calib, y[first], target, own)
                except TooFewRows as exc:
                    table.add_row(text, how, f"refused: {exc}", "", "", "", "", "", "", "")
                    continue
                cutoff = chosen.claim_cutoff or own
                result = check(chosen, held, y[~first], cutoff)
                achieved = {"precision": result.precision, "recall": result.recall}.get(target.kind)
                ok = "-" if target.value is None or not chosen.met else \
                    ("yes" if achieved is not None and achieved >= target.value - TOLERANCE else "NO")
                gap = "-" if target.value is None or achieved is None else f"{achieved - target.value:+.3f}"
                table.add_row(text, how, "yes" if chosen.met else "no (closest)", str(cutoff),
                              str(chosen.point.threshold), f"{fmt(chosen.point.precision)} -> {fmt(result.precision)}",
                              f"{fmt(chosen.point.recall)} -> {fmt(result.recall)}", fmt(result.balanced_accuracy),
                              ok, gap)
        console.print(table)


if __name__ == "__main__":
    main()
