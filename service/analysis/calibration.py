"""The gate threshold from your own labelled rows: the one that meets a precision or recall target, or the best
balanced accuracy, with its confusion matrix and bootstrap intervals for precision and recall.

A row is flagged (the gate blocks it) when its hallucination score is above the threshold, as in
the gate itself; "positive" means labelled hallucinated. Precision: the share of blocked answers
that were hallucinated; recall: the share of hallucinated answers blocked.
"""
from __future__ import annotations

from itertools import pairwise
from typing import Literal

import numpy as np
from pydantic import BaseModel

# With fewer rows of a class, one row moves that class's rate by more than 3 points and the 95% interval of
# recall (or of the false-alarm rate) at any threshold is wider than +-0.1 (about +-0.11 at 0.9 with 30 rows),
# so the threshold chosen would mostly be noise.
MIN_PER_CLASS = 30
LABEL_VALUES = {"true": True, "1": True, "yes": True, "hallucinated": True,
                "false": False, "0": False, "no": False, "faithful": False, "supported": False}


class TooFewRows(ValueError):
    """Too few labelled rows of a class to choose a threshold."""


class Target(BaseModel):
    kind: Literal["precision", "recall", "balanced"]
    value: float | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        """'precision=0.9', 'recall=0.8' or 'balanced'; raises ValueError."""
        name, _, value = text.partition("=")
        name = name.strip().lower()
        if name == "balanced" and not value:
            return cls(kind="balanced")
        if name not in ("precision", "recall") or not value:
            raise ValueError(f"--target must be precision=P, recall=R or balanced, not {text!r}")
        number = float(value)
        if not 0 < number <= 1:
            raise ValueError(f"--target {name} must be in (0, 1], not {value}")
        return cls(kind=name, value=number)

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}={self.value}"


class Point(BaseModel):
    threshold: float
    flagged: int
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float | None  # None when nothing is flagged
    recall: float
    balanced_accuracy: float


class Calibration(BaseModel):
    rows: int
    hallucinated: int
    faithful: int
    target: str
    met: bool  # False: no threshold meets the target; `point` is the closest one
    point: Point
    precision_ci95: tuple[float, float] | None
    recall_ci95: tuple[float, float]
    curve: list[Point]
    # The embedded judge's claim cut-off chosen with the threshold (None: threshold only, as for an LLM judge).
    claim_cutoff: float | None = None
    own_claim_cutoff: float | None = None  # the weights' own


def parse_label(value: object) -> bool | None:
    """A human label as True (hallucinated) or False; None when it is not one."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return LABEL_VALUES.get(str(value).strip().lower()) if value is not None else None


def thresholds(scores: np.ndarray) -> list[float]:
    """One threshold per way of splitting the scores: between each pair of neighbouring values, plus the ends."""
    values = np.unique(scores)
    cuts = [0.0] if values[0] > 0 else []
    for low, high in pairwise(values):
        middle = round(float(low + high) / 2, 4)
        cuts.append(middle if low <= middle < high else float(low))
    return cuts + [1.0]


def point(scores: np.ndarray, labels: np.ndarray, threshold: float) -> Point:
    flagged = scores > threshold
    tp, fp = int((flagged & labels).sum()), int((flagged & ~labels).sum())
    fn, tn = int((~flagged & labels).sum()), int((~flagged & ~labels).sum())
    recall = tp / max(1, tp + fn)
    return Point(threshold=threshold, flagged=tp + fp, tp=tp, fp=fp, fn=fn, tn=tn,
                 precision=round(tp / (tp + fp), 4) if tp + fp else None, recall=round(recall, 4),
                 balanced_accuracy=round((recall + tn / max(1, tn + fp)) / 2, 4))


def choose(curve: list[Point], target: Target) -> tuple[Point, bool]:
    """The point meeting the target (most recall for precision, most precision for recall), or the closest one."""
    if target.kind == "balanced":
        return max(curve, key=lambda p: (p.balanced_accuracy, p.threshold)), True
    goal = target.value
    if goal is None:
        raise ValueError(f"a {target.kind} target needs a value")
    if target.kind == "precision":
        meeting = [p for p in curve if p.precision is not None and p.precision >= goal]
        if meeting:
            return max(meeting, key=lambda p: (p.recall, p.precision, p.threshold)), True
        # Nothing flagged anywhere (every score 0): the only point there is, unmet.
        return max((p for p in curve if p.precision is not None), key=lambda p: (p.precision, p.recall),
                   default=curve[-1]), False
    meeting = [p for p in curve if p.recall >= goal]
    if meeting:
        return max(meeting, key=lambda p: (p.precision or 0.0, p.threshold)), True
    # Rows scored 0 pass at any threshold (score > threshold >= 0): some recalls are out of reach.
    return max(curve, key=lambda p: (p.recall, p.precision or 0.0)), False


def bootstrap_rates(scores: np.ndarray, labels: np.ndarray, threshold: float, resamples: int = 2000,
                    seed: int = 0) -> tuple[tuple[float, float] | None, tuple[float, float]]:
    """95% percentile intervals of precision and recall at a fixed threshold, resampling rows."""
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(scores), size=(resamples, len(scores)))
    flagged, positive = scores[index] > threshold, labels[index]
    tp = (flagged & positive).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = tp / flagged.sum(axis=1)
        recall = tp / positive.sum(axis=1)
    precision, recall = precision[np.isfinite(precision)], recall[np.isfinite(recall)]
    interval = lambda v: (round(float(np.percentile(v, 2.5)), 4), round(float(np.percentile(v, 97.5)), 4))  # noqa: E731
    return (interval(precision) if len(precision) else None), interval(recall)


def _check_counts(positives: int, negatives: int) -> None:
    if positives < MIN_PER_CLASS or negatives < MIN_PER_CLASS:
        raise TooFewRows(
            f"{positives} rows labelled hallucinated and {negatives} labelled faithful: at least {MIN_PER_CLASS} of "
            f"each are needed (with fewer, one row moves recall or the false-alarm rate by more than 3 points and "
            f"their 95% intervals are wider than +-0.1, so any threshold chosen would be noise); label "
            f"{max(0, MIN_PER_CLASS - positives)} more hallucinated and {max(0, MIN_PER_CLASS - negatives)} more "
            f"faithful rows")


def _result(s: np.ndarray, y: np.ndarray, target: Target, resamples: int, seed: int, **cutoffs) -> Calibration:
    curve = [point(s, y, t) for t in thresholds(s)]
    chosen, met = choose(curve, target)
    precision_ci, recall_ci = bootstrap_rates(s, y, chosen.threshold, resamples, seed)
    return Calibration(rows=len(s), hallucinated=int(y.sum()), faithful=int((~y).sum()), target=str(target),
                       met=met, point=chosen, precision_ci95=precision_ci, recall_ci95=recall_ci, curve=curve,
                       **cutoffs)


def calibrate(scores: list[float], labels: list[bool], target: Target, resamples: int = 2000,
              seed: int = 0) -> Calibration:
    """The threshold for the target over scored, labelled rows; TooFewRows when a class has too few rows."""
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    _check_counts(int(y.sum()), int((~y).sum()))
    return _result(s, y, target, resamples, seed)


# Claim cut-offs tried with the threshold. Above 0.05 only: contradicted claims sit at 0.05 or below and must
# never count as supported; a step of 0.01 is finer than the judge's probabilities mean anything.
CUTOFF_GRID = tuple(round(0.06 + 0.01 * i, 2) for i in range(94))


def scores_at(claims: list[np.ndarray], cutoff: float) -> np.ndarray:
    """Each row's hallucination score (1 - faithfulness) when a claim is supported at P >= cutoff; 0 with no claims."""
    counts = np.array([len(p) for p in claims])
    row = np.repeat(np.arange(len(claims)), counts)
    flat = np.concatenate(claims) if len(row) else np.zeros(0)
    supported = np.bincount(row, weights=flat >= cutoff, minlength=len(claims))
    return np.where(counts > 0, 1.0 - supported / np.maximum(counts, 1), 0.0)


def _rank(result: Calibration, target: Target, own: float) -> tuple:
    """Better calibrations rank higher; among equals, the weights' own cut-off, then the one closest to it."""
    p = result.point
    if target.kind == "balanced":
        merit: tuple = (p.balanced_accuracy,)
    elif target.kind == "precision":
        merit = (p.recall, p.precision or 0.0) if result.met else (p.precision or 0.0, p.recall)
    else:
        merit = (p.precision or 0.0,) if result.met else (p.recall, p.precision or 0.0)
    return (result.met, *merit, result.claim_cutoff == own, -abs((result.claim_cutoff or own) - own))


def calibrate_with_cutoff(claims: list[np.ndarray], labels: list[bool], target: Target, own_cutoff: float,
                          resamples: int = 2000, seed: int = 0) -> Calibration:
    """The (claim cut-off, threshold) pair that best meets the target, from each row's claim probabilities."""
    y = np.asarray(labels, dtype=bool)
    _check_counts(int(y.sum()), int((~y).sum()))
    best = None
    for cutoff in sorted({*CUTOFF_GRID, own_cutoff}):
        s = scores_at(claims, cutoff)
        curve = [point(s, y, t) for t in thresholds(s)]
        chosen, met = choose(curve, target)
        trial = Calibration(rows=len(s), hallucinated=0, faithful=0, target=str(target), met=met, point=chosen,
                            precision_ci95=None, recall_ci95=(0.0, 0.0), curve=[], claim_cutoff=cutoff)
        if best is None or _rank(trial, target, own_cutoff) > _rank(best, target, own_cutoff):
            best = trial
    assert best is not None and best.claim_cutoff is not None
    return _result(scores_at(claims, best.claim_cutoff), y, target, resamples, seed,
                   claim_cutoff=best.claim_cutoff, own_claim_cutoff=own_cutoff)
