"""A batch's summary statistics: per metric mean, median, p10 and a 95% bootstrap interval; gate pass rate."""
from __future__ import annotations

import numpy as np
from pydantic import BaseModel, Field

from ragmeter.metrics import METRIC_NAMES
from ragmeter.metrics.diagnosis import diagnose

from ragmeter.service.rows import RowStatus, ScoredRow
from ragmeter.service.analysis.stats import bootstrap_ci


class MetricSummary(BaseModel):
    n: int
    mean: float | None = None
    median: float | None = None
    p10: float | None = None
    ci95: tuple[float, float] | None = None


class Summary(BaseModel):
    rows: int
    scored: int
    errors: int
    gate_pass_rate: float | None
    metrics: dict[str, MetricSummary]
    diagnosis: list[str] | None = Field(default=None, description="Which part of the pipeline to fix, from the "
                                        "means of RAGChecker's metrics; null when none was computed.")


def summarise(rows: list[ScoredRow], resamples: int = 2000, seed: int = 0) -> Summary:
    """Statistics over the rows scored so far."""
    scores = {metric: [s for r in rows if (s := r.score(metric)) is not None] for metric in METRIC_NAMES}
    return summary_of(scores, [r.gate_passed for r in rows if r.gate_passed is not None], rows=len(rows),
                      finished=sum(r.status != RowStatus.PENDING for r in rows),
                      errors=sum(r.status == RowStatus.ERROR for r in rows), resamples=resamples, seed=seed)


def summary_of(scores: dict[str, list[float]], verdicts: list[bool], *, rows: int, finished: int, errors: int,
               resamples: int = 2000, seed: int = 0) -> Summary:
    """The summary from each metric's scores and the gate verdicts."""
    metrics = {}
    for metric in METRIC_NAMES:
        values = np.array(scores.get(metric, []), dtype=float)
        if len(values) == 0:
            metrics[metric] = MetricSummary(n=0)
            continue
        low, high = bootstrap_ci(values, resamples, seed)
        metrics[metric] = MetricSummary(n=len(values), mean=round(float(values.mean()), 4),
                                        median=round(float(np.median(values)), 4),
                                        p10=round(float(np.percentile(values, 10)), 4),
                                        ci95=(round(low, 4), round(high, 4)))
    return Summary(rows=rows, scored=finished, errors=errors,
                   gate_pass_rate=round(sum(verdicts) / len(verdicts), 4) if verdicts else None,
                   metrics=metrics, diagnosis=diagnose({m: s.mean for m, s in metrics.items()}))
