"""The bootstrap, once: a 95% interval of a mean, for batch summaries and for paired run comparisons."""
from __future__ import annotations

import numpy as np

# Rows x resamples above this costs too much memory and time; fewer resamples are drawn past it.
MAX_DRAWS = 20_000_000
# Drawn per numpy call: each call holds the GIL, so a summary computed in a worker thread never stalls the
# event loop for more than a few milliseconds at a time.
SLICE_DRAWS = 500_000


def bootstrap_ci(values: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of the mean of `values` (per-row scores, or per-pair differences)."""
    rng = np.random.default_rng(seed)
    n = max(1, len(values))
    draws = max(200, min(resamples, MAX_DRAWS // n))
    per_slice = max(1, SLICE_DRAWS // n)
    means = np.concatenate([rng.choice(values, size=(min(per_slice, draws - done), len(values)), replace=True)
                            .mean(axis=1) for done in range(0, draws, per_slice)])
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))
