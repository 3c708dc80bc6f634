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


# Two-sided 97.5% quantiles of Student's t for 1..30 degrees of freedom; past 30 a series in 1/df is within 0.001.
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
_Z975 = 1.959964


def t_quantile(df: int) -> float:
    """Student's t 97.5% quantile for `df` degrees of freedom (df >= 1)."""
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975  # Cornish-Fisher expansion of t in powers of 1/df
    return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)


def mean_ci(n: int, total: float, total_sq: float) -> tuple[float, float] | None:
    """95% t interval of a mean of scores in [0, 1] from its count, sum and sum of squares (so roll-ups give the
    same interval as the raw values); clipped to [0, 1]; None below two values."""
    if n < 2:
        return None
    mean = total / n
    var = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    half = t_quantile(n - 1) * (var / n) ** 0.5
    return max(0.0, mean - half), min(1.0, mean + half)


def wilson_ci(passes: int, n: int) -> tuple[float, float] | None:
    """95% Wilson score interval of a proportion (stays inside [0, 1] and is sound at 0 or n passes); None at n=0."""
    if n == 0:
        return None
    z2 = _Z975 ** 2
    p = passes / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z975 * (p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5 / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)
