"""The bootstrap, once: a 95% interval of a mean, for batch summaries and for paired run comparisons."""
from __future__ import annotations

import numpy as np

# Rows x resamples drawn at once: above this the resamples are drawn in slices, so memory stays bounded.
MAX_DRAWS = 20_000_000


def bootstrap_ci(values: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of `values` (per-row scores, or per-pair differences)."""
    rng = np.random.default_rng(seed)
    draws = max(200, min(resamples, MAX_DRAWS // max(1, len(values))))
    per_slice = max(1, MAX_DRAWS // max(1, len(values)))
    means = np.concatenate([rng.choice(values, size=(min(per_slice, draws - done), len(values)), replace=True)
                            .mean(axis=1) for done in range(0, draws, per_slice)])
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
