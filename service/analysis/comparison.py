"""Two runs of the same evaluation set, compared row by row: is the candidate better than the baseline, and where?

Two runs of the same rows in the same order (a run with itself, two downloads of one job) pair row by row.
Otherwise rows pair by `id` (compared as text: service/ids.py), else by a hash of question and contexts, else
(the retriever changed the contexts) by the question alone when it is unique in both runs; an id (or hash)
that repeats in either run pairs nothing, and the comparison says so in `notes`. Per metric, and per slice of the
metadata, the mean difference (candidate - baseline) gets a paired bootstrap 95% interval and a
verdict: better or worse only when the interval excludes zero (and the change exceeds
`min_effect`), otherwise no detectable change. `ragmeter gate --baseline` uses the same code.
"""
from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field

from ragmeter.metrics import METRIC_NAMES, SampleResult
from ragmeter.metrics.registry import BY_NAME

from ragmeter.service.rows import ScoredRow
from ragmeter.service.analysis.stats import bootstrap_ci
from ragmeter.service.analysis.explain import RowChange, row_change
from ragmeter.service.analysis.slices import MIN_SLICE_ROWS, slice_key

Verdict = Literal["better", "worse", "no detectable change"]
# Per-row differences are counted in 21 bins of width 0.1 centred on -1.0 ... 0 ... +1.0, so the middle bin holds the
# rows that barely changed.
HISTOGRAM_BINS = 21
HISTOGRAM_RANGE = (-1.05, 1.05)


@dataclass
class RunRow:
    """A scored row and, when the run kept it (a batch in the store), its full result with the evidence."""
    row: ScoredRow
    result: SampleResult | None = None


class MetricChange(BaseModel):
    metric: str
    better: Literal["higher", "lower"] = "higher"  # for "lower" (hallucination) a rise is "worse"
    pairs: int
    baseline_mean: float
    candidate_mean: float
    difference: float  # candidate - baseline
    ci95: tuple[float, float]
    verdict: Verdict
    rows_worse: int
    rows_better: int
    histogram: list[int]  # per-row differences, HISTOGRAM_BINS bins over HISTOGRAM_RANGE


class SliceChange(BaseModel):
    key: dict[str, str]
    pairs: int
    too_small: bool
    metrics: list[MetricChange]


class PairingNote(BaseModel):
    code: Literal["duplicate_ids", "paired_in_order"]
    message: str
    ids: list[str] = Field(default_factory=list, description="The repeated ids (at most 20).")


class Comparison(BaseModel):
    baseline: str
    candidate: str
    # baseline, candidate, paired, only_baseline, only_candidate, duplicate_ids (rows left unpaired: their id repeats)
    rows: dict[str, int]
    notes: list[PairingNote] = Field(default_factory=list, description="How rows were paired, when not simply by "
                                                                       "unique ids, and which were left out.")
    min_effect: float
    metrics: list[MetricChange]
    by: list[str]
    slices: list[SliceChange]
    top_changed: dict[str, dict[str, list[RowChange]]]  # metric -> worse / better -> rows


def sample_key(row: ScoredRow) -> str:
    """Pairs a sample across runs: its id, or a hash of its question and contexts."""
    if row.id not in (None, ""):
        return str(row.id)
    text = (row.user_input or "") + "\x00" + "\x00".join(row.retrieved_contexts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Pairing:
    pairs: list[tuple[RunRow, RunRow]]  # (baseline, candidate), in the candidate's order
    only_baseline: int
    only_candidate: int
    duplicates: int  # rows of either run left unpaired because their id (or question and contexts) repeats
    notes: list[PairingNote] = field(default_factory=list)


def pair(baseline: list[RunRow], candidate: list[RunRow]) -> Pairing:
    """Match rows across the runs; a key that repeats in either run pairs nothing, and a note says so."""
    old_keys, new_keys = [sample_key(r.row) for r in baseline], [sample_key(r.row) for r in candidate]
    if old_keys == new_keys and old_keys:  # the same rows in the same order: no guessing needed, repeats or not
        return Pairing(list(zip(baseline, candidate, strict=True)), 0, 0, 0, [PairingNote(
            code="paired_in_order", message=f"both runs hold the same {len(old_keys)} rows in the same order: "
                                            "paired row by row")])
    old_count, new_count = Counter(old_keys), Counter(new_keys)
    repeated = {k for k in old_count | new_count if old_count[k] > 1 or new_count[k] > 1}
    old = {k: r for k, r in zip(old_keys, baseline, strict=True) if k not in repeated}
    pairs, left, used = [], [], set()
    for key, r in zip(new_keys, candidate, strict=True):
        if key in old:
            used.add(key)
            pairs.append((old[key], r))
        elif key not in repeated:
            left.append(r)
    # Without ids a changed retriever changes the contexts: the question alone pairs what is unique on both sides.
    rest = [r for k, r in old.items() if k not in used and r.row.id in (None, "")]
    by_question = _unique_questions(rest)
    candidates_by_question = _unique_questions([r for r in left if r.row.id in (None, "")])
    matched = {q for q in by_question if q in candidates_by_question}
    pairs += [(by_question[q], candidates_by_question[q]) for q in matched]
    duplicates = sum(old_count[k] + new_count[k] for k in repeated)
    return Pairing(pairs, len(old) - len(used) - len(matched), len(left) - len(matched), duplicates,
                   _repeat_notes(baseline + candidate, repeated, duplicates))


def _repeat_notes(rows: list[RunRow], repeated: set[str], left_out: int) -> list[PairingNote]:
    """The note saying which ids repeat and that their rows were not paired."""
    if not repeated:
        return []
    ids = sorted({str(r.row.id) if r.row.id not in (None, "") else "(no id: same question and contexts)"
                  for r in rows if sample_key(r.row) in repeated})
    return [PairingNote(code="duplicate_ids", ids=ids[:20], message=(
        f"{len(repeated)} ids repeat within a run ({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}): "
        f"their {left_out} rows are not paired, since which row matches which cannot be known; give every row "
        "its own id to compare them"))]


def _unique_questions(rows: list[RunRow]) -> dict[str, RunRow]:
    seen: dict[str, list[RunRow]] = defaultdict(list)
    for r in rows:
        seen[r.row.user_input or ""].append(r)
    return {q: rs[0] for q, rs in seen.items() if len(rs) == 1 and q}


def metric_change(metric: str, scores: np.ndarray, min_effect: float = 0.0, resamples: int = 2000,
                  seed: int = 0) -> MetricChange:
    """Mean difference (candidate - baseline) of paired scores (columns: baseline, candidate) with its verdict.

    The verdict reads the metric's direction: for a lower-is-better metric a rise is worse."""
    diffs = scores[:, 1] - scores[:, 0]
    low, high = bootstrap_ci(diffs, resamples, seed)
    mean = float(diffs.mean())
    lower_is_better = direction(metric) == "lower"
    gain, gain_low, gain_high = (-mean, -high, -low) if lower_is_better else (mean, low, high)
    if gain_high < 0 and -gain > min_effect:
        verdict: Verdict = "worse"
    elif gain_low > 0 and gain > min_effect:
        verdict = "better"
    else:
        verdict = "no detectable change"
    gains = -diffs if lower_is_better else diffs
    counts, _ = np.histogram(diffs, bins=HISTOGRAM_BINS, range=HISTOGRAM_RANGE)
    return MetricChange(metric=metric, better=direction(metric), pairs=len(diffs),
                        baseline_mean=round(float(scores[:, 0].mean()), 4),
                        candidate_mean=round(float(scores[:, 1].mean()), 4), difference=round(mean, 4),
                        ci95=(round(low, 4), round(high, 4)), verdict=verdict, rows_worse=int((gains < 0).sum()),
                        rows_better=int((gains > 0).sum()), histogram=counts.tolist())


def direction(metric: str) -> Literal["higher", "lower"]:
    """Which way the metric is good; "higher" for a name the registry does not know."""
    known = BY_NAME.get(metric)
    return known.better if known is not None else "higher"


def paired_scores(pairs: list[tuple[RunRow, RunRow]], metric: str) -> tuple[np.ndarray, list[int]]:
    """(baseline, candidate) scores of the pairs both runs scored, and those pairs' positions."""
    kept = [(i, a.row.score(metric), b.row.score(metric)) for i, (a, b) in enumerate(pairs)]
    kept = [(i, x, y) for i, x, y in kept if x is not None and y is not None]
    return np.array([(x, y) for _, x, y in kept], dtype=float).reshape(-1, 2), [i for i, _, _ in kept]


def metric_changes(pairs: list[tuple[RunRow, RunRow]], metrics: list[str], min_effect: float = 0.0,
                   resamples: int = 2000, seed: int = 0) -> list[MetricChange]:
    """Each metric's change over the pairs where both runs have a score (at least 2 such pairs)."""
    out = []
    for metric in metrics:
        scores, _ = paired_scores(pairs, metric)
        if len(scores) >= 2:
            out.append(metric_change(metric, scores, min_effect, resamples, seed))
    return out


def compare_runs(baseline: list[RunRow], candidate: list[RunRow], *, names: tuple[str, str] = ("baseline", "candidate"),
                 metrics: list[str] | None = None, by: list[str] | None = None, top: int = 5,
                 min_effect: float = 0.0, resamples: int = 2000, seed: int = 0) -> Comparison:
    """The whole comparison: per metric, per slice, the most changed rows each way, and the row counts."""
    pairing = pair(baseline, candidate)
    metrics = metrics or [m for m in METRIC_NAMES if any(r.row.score(m) is not None for r in candidate)]
    by = by or []
    overall = metric_changes(pairing.pairs, metrics, min_effect, resamples, seed)
    slices = []
    if by:
        groups: dict[tuple[str, ...], list[tuple[RunRow, RunRow]]] = defaultdict(list)
        for a, b in pairing.pairs:
            # The candidate's metadata names the slice; the baseline's when the candidate lacks the key.
            groups[slice_key({**a.row.metadata, **b.row.metadata}, by)].append((a, b))
        for values, members in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
            slices.append(SliceChange(key=dict(zip(by, values, strict=True)), pairs=len(members),
                                      too_small=len(members) < MIN_SLICE_ROWS,
                                      metrics=metric_changes(members, metrics, min_effect, resamples, seed)))
    top_changed = {}
    for metric in [c.metric for c in overall]:
        scores, positions = paired_scores(pairing.pairs, metric)
        # Ordered by gain, so that a rise in a lower-is-better metric is among the worse rows.
        diffs = (scores[:, 1] - scores[:, 0]) * (-1 if direction(metric) == "lower" else 1)
        order = np.argsort(diffs, kind="stable")
        worse = [positions[i] for i in order[:top] if diffs[i] < 0]
        better = [positions[i] for i in order[::-1][:top] if diffs[i] > 0]
        top_changed[metric] = {"worse": [row_change(*pairing.pairs[int(i)], metric) for i in worse],
                               "better": [row_change(*pairing.pairs[int(i)], metric) for i in better]}
    return Comparison(
        baseline=names[0], candidate=names[1], min_effect=min_effect, metrics=overall, by=by, slices=slices,
        rows={"baseline": len(baseline), "candidate": len(candidate), "paired": len(pairing.pairs),
              "only_baseline": pairing.only_baseline, "only_candidate": pairing.only_candidate,
              "duplicate_ids": pairing.duplicates},
        notes=pairing.notes, top_changed=top_changed)
