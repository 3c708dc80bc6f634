"""CI quality rules over a scored dataset, from `ragmeter.toml` [gate] or pyproject's [tool.ragmeter.gate].

    min_mean = {faithfulness = 0.8}       # mean of a metric over the samples that have it
    min_sample = {faithfulness = 0.5}     # every sample's score at least this
    max_mean = {hallucination = 0.1}      # the same limits for lower-is-better metrics (RAGChecker's rates)
    max_sample = {hallucination = 0.5}
    max_hallucination_rate = 0.1          # share of samples failing the hallucination gate
    max_error_rate = 0.05                 # share of samples with a scoring error
    baseline_tolerance = 0.02             # a mean may drop this much before the regression check can fail

A minimum on a lower-is-better metric (or a maximum on a higher-is-better one) is refused.
Any registered metric can be named; a metric named in a rule is scored even when `metrics` omits it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, model_validator

from ragmeter.metrics import DEFAULT_METRICS, MetricName
from ragmeter.metrics.gate import check_directions

from ragmeter.service import config_file
from ragmeter.service.rows import RowStatus, ScoredRow

FAILING_SAMPLES = 20


class GateRules(BaseModel):
    metrics: list[MetricName] = Field(default_factory=lambda: list(DEFAULT_METRICS))
    min_mean: dict[MetricName, float] = {}
    min_sample: dict[MetricName, float] = {}
    max_mean: dict[MetricName, float] = {}
    max_sample: dict[MetricName, float] = {}
    max_hallucination_rate: float | None = None
    max_error_rate: float = 0.05
    baseline_tolerance: float = 0.02
    threshold: float | None = None

    @model_validator(mode="after")
    def _limits_in_the_metrics_direction(self) -> GateRules:
        check_directions({**self.min_mean, **self.min_sample}, {**self.max_mean, **self.max_sample})
        return self

    @property
    def scored_metrics(self) -> list[str]:
        """The metrics to score: those listed, and every metric a rule names."""
        return list(dict.fromkeys([*self.metrics, *self.min_mean, *self.min_sample, *self.max_mean,
                                   *self.max_sample]))


def load_rules(path: Path | None) -> GateRules:
    """Rules from a ragmeter.toml ([gate]) or a pyproject.toml ([tool.ragmeter.gate]); defaults without one."""
    if path is None:
        located = config_file.find(None, _section)
        return GateRules.model_validate(located[1]) if located else GateRules()
    section = _section(path, config_file.read(path))
    if section is None:
        raise ValueError(f"{path} has no [gate] (ragmeter.toml) or [tool.ragmeter.gate] (pyproject.toml) table")
    return GateRules.model_validate(section)


def _section(path: Path, tables: dict) -> dict | None:
    if config_file.is_pyproject(path):
        return tables.get("gate")
    # A ragmeter.toml may hold the rules at its top level, without [gate].
    return tables.get("gate", tables if any(k in tables for k in GateRules.model_fields) else None)


@dataclass
class RuleResult:
    name: str
    actual: float | None
    required: str
    passed: bool
    detail: str = ""
    failing_samples: list[ScoredRow] = field(default_factory=list)


def check(rows: list[ScoredRow], rules: GateRules) -> list[RuleResult]:
    """Each rule's verdict over scored rows; the error-rate rule always comes first."""
    results = []
    n = len(rows)
    errors = [r for r in rows if r.status == RowStatus.ERROR]
    error_rate = len(errors) / n if n else 1.0
    results.append(RuleResult("max_error_rate", round(error_rate, 4), f"<= {rules.max_error_rate}",
                              error_rate <= rules.max_error_rate, f"{len(errors)} of {n} samples had scoring errors",
                              errors[:FAILING_SAMPLES]))
    for metric, minimum in rules.min_mean.items():
        scored = [r for r in rows if r.score(metric) is not None]
        mean = float(np.mean([r.score(metric) for r in scored])) if scored else None
        passed = mean is not None and mean >= minimum
        # A failed mean lists the samples that pulled it down most.
        lowest = [] if passed else _lowest([r for r in scored if (r.score(metric) or 0.0) < minimum], metric)
        results.append(RuleResult(f"min_mean.{metric}", None if mean is None else round(mean, 4), f">= {minimum}",
                                  passed, f"over {len(scored)} samples", lowest))
    for metric, minimum in rules.min_sample.items():
        low = [r for r in rows if (s := r.score(metric)) is not None and s < minimum]
        worst = min((s for r in rows if (s := r.score(metric)) is not None), default=None)
        results.append(RuleResult(f"min_sample.{metric}", worst, f">= {minimum} for every sample", not low,
                                  f"{len(low)} samples below", _lowest(low, metric)))
    for metric, maximum in rules.max_mean.items():
        scored = [r for r in rows if r.score(metric) is not None]
        mean = float(np.mean([r.score(metric) for r in scored])) if scored else None
        passed = mean is not None and mean <= maximum
        highest = [] if passed else _highest([r for r in scored if (r.score(metric) or 0.0) > maximum], metric)
        results.append(RuleResult(f"max_mean.{metric}", None if mean is None else round(mean, 4), f"<= {maximum}",
                                  passed, f"over {len(scored)} samples", highest))
    for metric, maximum in rules.max_sample.items():
        high = [r for r in rows if (s := r.score(metric)) is not None and s > maximum]
        worst = max((s for r in rows if (s := r.score(metric)) is not None), default=None)
        results.append(RuleResult(f"max_sample.{metric}", worst, f"<= {maximum} for every sample", not high,
                                  f"{len(high)} samples above", _highest(high, metric)))
    if rules.max_hallucination_rate is not None:
        gated = [r for r in rows if r.gate_passed is not None]
        failed = [r for r in gated if not r.gate_passed]
        rate = len(failed) / len(gated) if gated else 1.0
        results.append(RuleResult("max_hallucination_rate", round(rate, 4), f"<= {rules.max_hallucination_rate}",
                                  rate <= rules.max_hallucination_rate,
                                  f"{len(failed)} of {len(gated)} samples failed the hallucination gate",
                                  _lowest(failed, "faithfulness")))
    return results


def _lowest(rows: list[ScoredRow], metric: str) -> list[ScoredRow]:
    return sorted(rows, key=lambda r: r.score(metric) or 0.0)[:FAILING_SAMPLES]


def _highest(rows: list[ScoredRow], metric: str) -> list[ScoredRow]:
    return sorted(rows, key=lambda r: -(r.score(metric) or 0.0))[:FAILING_SAMPLES]
