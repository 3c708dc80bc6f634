"""CI quality gates: rules over a scored dataset, and a regression check against a baseline run.

Rules (from `ragmeter.toml` [gate] or pyproject's [tool.ragmeter.gate]):
    min_mean = {faithfulness = 0.8}       # mean of a metric over the samples that have it
    min_sample = {faithfulness = 0.5}     # every sample's score at least this
    max_hallucination_rate = 0.1          # share of samples failing the hallucination gate
    max_error_rate = 0.05                 # share of samples with a scoring error
    baseline_tolerance = 0.02             # a mean may drop this much before the regression check can fail
A baseline comparison fails a metric only when its mean dropped by more than the tolerance *and*
the paired bootstrap 95% interval of the drop excludes zero, so judge noise does not flap the gate.
"""
from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field

from metrics import METRIC_NAMES


class GateRules(BaseModel):
    metrics: list[str] = Field(default_factory=lambda: list(METRIC_NAMES))
    min_mean: dict[str, float] = {}
    min_sample: dict[str, float] = {}
    max_hallucination_rate: float | None = None
    max_error_rate: float = 0.05
    baseline_tolerance: float = 0.02
    threshold: float | None = None


def load_rules(path: Path | None) -> GateRules:
    """Rules from a ragmeter.toml ([gate]) or a pyproject.toml ([tool.ragmeter.gate]); defaults without one."""
    if path is None:
        for candidate in (Path("ragmeter.toml"), Path("pyproject.toml")):
            if candidate.exists() and _section(candidate) is not None:
                path = candidate
                break
        else:
            return GateRules()
    section = _section(path)
    if section is None:
        raise ValueError(f"{path} has no [gate] (ragmeter.toml) or [tool.ragmeter.gate] (pyproject.toml) table")
    return GateRules.model_validate(section)


def _section(path: Path) -> dict | None:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    if path.name == "pyproject.toml":
        return data.get("tool", {}).get("ragmeter", {}).get("gate")
    return data.get("gate", data if any(k in data for k in GateRules.model_fields) else None)


@dataclass
class RuleResult:
    name: str
    actual: float | None
    required: str
    passed: bool
    detail: str = ""
    failing_samples: list[dict] = field(default_factory=list)


def sample_key(record: dict) -> str:
    """Pairs a sample across runs: its id, or a hash of its question and contexts."""
    if record.get("id") not in (None, ""):
        return str(record["id"])
    text = (record.get("user_input") or "") + "\x00" + "\x00".join(record.get("retrieved_contexts") or [])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check(records: list[dict], rules: GateRules) -> list[RuleResult]:
    """Each rule's verdict over flat scored records (the batch results format)."""
    results = []
    n = len(records)
    errors = [r for r in records if r.get("status") == "error"]
    error_rate = len(errors) / n if n else 1.0
    results.append(RuleResult("max_error_rate", round(error_rate, 4), f"<= {rules.max_error_rate}",
                              error_rate <= rules.max_error_rate, f"{len(errors)} of {n} samples had scoring errors",
                              errors[:20]))
    for metric, minimum in rules.min_mean.items():
        values = [r[metric] for r in records if r.get(metric) is not None]
        mean = float(np.mean(values)) if values else None
        passed = mean is not None and mean >= minimum
        # A failed mean lists the samples that pulled it down most.
        lowest = sorted((r for r in records if r.get(metric) is not None and r[metric] < minimum),
                        key=lambda r: r[metric])[:20] if not passed else []
        results.append(RuleResult(f"min_mean.{metric}", None if mean is None else round(mean, 4), f">= {minimum}",
                                  passed, f"over {len(values)} samples", lowest))
    for metric, minimum in rules.min_sample.items():
        low = [r for r in records if r.get(metric) is not None and r[metric] < minimum]
        worst = min((r[metric] for r in records if r.get(metric) is not None), default=None)
        results.append(RuleResult(f"min_sample.{metric}", worst, f">= {minimum} for every sample", not low,
                                  f"{len(low)} samples below", sorted(low, key=lambda r: r[metric])[:20]))
    if rules.max_hallucination_rate is not None:
        gated = [r for r in records if r.get("gate_passed") is not None]
        failed = [r for r in gated if not r["gate_passed"]]
        rate = len(failed) / len(gated) if gated else 1.0
        results.append(RuleResult("max_hallucination_rate", round(rate, 4), f"<= {rules.max_hallucination_rate}",
                                  rate <= rules.max_hallucination_rate,
                                  f"{len(failed)} of {len(gated)} samples failed the hallucination gate",
                                  sorted(failed, key=lambda r: r.get("faithfulness") or 0.0)[:20]))
    return results


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


def compare(current: list[dict], baseline: list[dict], rules: GateRules, resamples: int = 2000,
            seed: int = 0) -> list[Regression]:
    """Paired comparison of each metric's mean with a baseline run."""
    old = {sample_key(r): r for r in baseline}
    out = []
    for metric in rules.metrics:
        pairs = [(old[k][metric], r[metric]) for r in current if (k := sample_key(r)) in old
                 and old[k].get(metric) is not None and r.get(metric) is not None]
        if len(pairs) < 2:
            continue
        out.append(paired_drop(metric, np.array(pairs, dtype=float), rules.baseline_tolerance, resamples, seed))
    return out


def paired_drop(metric: str, pairs: np.ndarray, tolerance: float, resamples: int = 2000, seed: int = 0) -> Regression:
    """Drop of the mean (baseline - current) with a paired bootstrap 95% interval."""
    diffs = pairs[:, 0] - pairs[:, 1]
    rng = np.random.default_rng(seed)
    boot = rng.choice(diffs, size=(resamples, len(diffs)), replace=True).mean(axis=1)
    low, high = float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))
    drop = float(diffs.mean())
    beyond = drop > tolerance
    significant = low > 0
    regressed = beyond and significant
    if regressed:
        verdict = f"regression: dropped {drop:.3f} > tolerance {tolerance}, 95% CI [{low:.3f}, {high:.3f}] excludes 0"
    elif beyond:
        verdict = f"noise: dropped {drop:.3f} but the 95% CI [{low:.3f}, {high:.3f}] includes 0"
    else:
        verdict = f"ok: change {-drop:+.3f} within tolerance {tolerance}"
    return Regression(metric, len(diffs), round(float(pairs[:, 0].mean()), 4), round(float(pairs[:, 1].mean()), 4),
                      round(drop, 4), (round(low, 4), round(high, 4)), regressed, verdict)
