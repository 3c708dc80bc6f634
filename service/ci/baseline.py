"""The regression check against a baseline run: per metric, the paired drop of the mean and its 95% interval.

A metric fails only when its mean dropped by more than the tolerance *and* the paired bootstrap
interval of the drop excludes zero, so judge noise does not flap the gate. The pairing and the
statistics are the run comparison's (`ragmeter compare`), with the tolerance as its minimum effect.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ragmeter.service.analysis.comparison import MetricChange, RunRow, metric_change, metric_changes, pair, sample_key
from ragmeter.service.rows import ScoredRow

__all__ = ["Regression", "compare", "paired_drop", "sample_key"]


@dataclass
class Regression:
    metric: str
    pairs: int
    baseline_mean: float
    current_mean: float
    drop: float  # the loss: how much worse the mean got, in the metric's good direction
    ci95: tuple[float, float]
    regressed: bool
    verdict: str


def compare(current: list[ScoredRow], baseline: list[ScoredRow], metrics: list[str], tolerance: float,
            resamples: int = 2000, seed: int = 0) -> list[Regression]:
    """Paired comparison of each metric's mean with the baseline run's."""
    pairs = pair([RunRow(r) for r in baseline], [RunRow(r) for r in current]).pairs
    return [_regression(c, tolerance) for c in metric_changes(pairs, metrics, tolerance, resamples, seed)]


def paired_drop(metric: str, pairs: np.ndarray, tolerance: float, resamples: int = 2000, seed: int = 0) -> Regression:
    """Drop of the mean (baseline - current) with a paired bootstrap 95% interval."""
    return _regression(metric_change(metric, pairs, tolerance, resamples, seed), tolerance)


def _regression(change: MetricChange, tolerance: float) -> Regression:
    """The comparison's view (candidate - baseline) turned into the gate's: the loss, baseline - current for a
    higher-is-better metric, current - baseline for a lower-is-better one (a rise in hallucination is a loss)."""
    lower = change.better == "lower"
    drop = change.difference if lower else -change.difference
    low, high = (change.ci95[0], change.ci95[1]) if lower else (-change.ci95[1], -change.ci95[0])
    moved = "rose" if lower else "dropped"
    regressed = change.verdict == "worse"
    if regressed:
        verdict = f"regression: {moved} {abs(drop):.3f} > tolerance {tolerance}, 95% CI [{low:.3f}, {high:.3f}] " \
                  "excludes 0"
    elif drop > tolerance:
        verdict = f"noise: {moved} {abs(drop):.3f} but the 95% CI [{low:.3f}, {high:.3f}] includes 0"
    else:
        verdict = f"ok: change {change.difference:+.3f} within tolerance {tolerance}"
    return Regression(change.metric, change.pairs, change.baseline_mean, change.candidate_mean, round(drop, 4) + 0.0,
                      (round(low, 4) + 0.0, round(high, 4) + 0.0), regressed, verdict)
