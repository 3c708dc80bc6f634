"""The bootstrap, once: a 95% interval of a mean, for batch summaries and for paired run comparisons."""
from __future__ import annotations

import numpy as np

# Rows x resamples above this costs too much memory; fewer resamples are drawn past it.
MAX_DRAWS = 20_000_000


def bootstrap_ci(values: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of `values` (per-row scores, or per-pair differences)."""
    rng = np.random.default_rng(seed)
    draws = max(200, min(resamples, MAX_DRAWS // max(1, len(values))))
    means = rng.choice(values, size=(draws, len(values)), replace=True).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
