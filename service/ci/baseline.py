"""The regression check against a baseline run: per metric, the paired drop of the mean and its 95% interval.

A metric fails only when its mean dropped by more than the tolerance *and* the paired bootstrap
interval of the drop excludes zero, so judge noise does not flap the gate.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from ..rows import ScoredRow
from ..stats import bootstrap_ci


@dataclass
class Regression:
    metric: str
    pairs: int
    baseline_mean: float
    current_mean: float
    drop: float
    ci95: tuple[float, float]
    regressed: bool
    verdict: str


def sample_key(row: ScoredRow) -> str:
    """Pairs a sample across runs: its id, or a hash of its question and contexts."""
    if row.id not in (None, ""):
        return str(row.id)
    text = (row.user_input or "") + "\x00" + "\x00".join(row.retrieved_contexts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compare(current: list[ScoredRow], baseline: list[ScoredRow], metrics: list[str], tolerance: float,
            resamples: int = 2000, seed: int = 0) -> list[Regression]:
    """Paired comparison of each metric's mean with the baseline run's."""
    old = {sample_key(r): r for r in baseline}
    out = []
    for metric in metrics:
        pairs = [(old[k].score(metric), r.score(metric)) for r in current if (k := sample_key(r)) in old
                 and old[k].score(metric) is not None and r.score(metric) is not None]
        if len(pairs) < 2:
            continue
        out.append(paired_drop(metric, np.array(pairs, dtype=float), tolerance, resamples, seed))
    return out


def paired_drop(metric: str, pairs: np.ndarray, tolerance: float, resamples: int = 2000, seed: int = 0) -> Regression:
    """Drop of the mean (baseline - current) with a paired bootstrap 95% interval."""
    diffs = pairs[:, 0] - pairs[:, 1]
    low, high = bootstrap_ci(diffs, resamples, seed)
    drop = float(diffs.mean())
    beyond = drop > tolerance
    regressed = beyond and low > 0
    if regressed:
        verdict = f"regression: dropped {drop:.3f} > tolerance {tolerance}, 95% CI [{low:.3f}, {high:.3f}] excludes 0"
    elif beyond:
        verdict = f"noise: dropped {drop:.3f} but the 95% CI [{low:.3f}, {high:.3f}] includes 0"
    else:
        verdict = f"ok: change {-drop:+.3f} within tolerance {tolerance}"
    return Regression(metric, len(diffs), round(float(pairs[:, 0].mean()), 4), round(float(pairs[:, 1].mean()), 4),
                      round(drop, 4), (round(low, 4), round(high, 4)), regressed, verdict)
