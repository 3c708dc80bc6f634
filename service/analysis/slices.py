"""Summaries per slice of a run: rows grouped by metadata values (`?by=topic`, several keys for their combinations).

Each slice gets the batch summary's statistics (n, mean, median, p10, 95% bootstrap interval per
metric; gate pass rate), and a flag when it has too few scored rows for its interval to mean much.
"""
from __future__ import annotations

from collections import defaultdict

from pydantic import BaseModel

from ragmeter.service.analysis.summary import MetricSummary, summarise
from ragmeter.service.rows import ScoredRow
from ragmeter.service.metadata import value_label

# Below this many scored rows a slice's 95% interval of a 0/1 score spans more than about +-0.3: flagged.
MIN_SLICE_ROWS = 10
# Slices past this many (a key with a value per row) are left out, largest first kept.
MAX_SLICES = 200
# A metadata key is offered for slicing (report, comparison) when it splits the rows into 2..this many groups.
MAX_AUTO_VALUES = 20


class Slice(BaseModel):
    key: dict[str, str]
    rows: int
    scored: int
    too_small: bool
    gate_pass_rate: float | None
    metrics: dict[str, MetricSummary]

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.key.items())


class Slices(BaseModel):
    by: list[str]
    min_rows: int = MIN_SLICE_ROWS
    slices: list[Slice]
    left_out: int = 0


def parse_keys(values: list[str] | None) -> list[str]:
    """`?by=topic&by=language` or `?by=topic,language`: the keys, in order, each once."""
    keys = [k.strip() for v in values or [] for k in v.split(",") if k.strip()]
    return list(dict.fromkeys(keys))


def slice_key(metadata: dict, by: list[str]) -> tuple[str, ...]:
    """The slice a row's metadata puts it in: each key's value as text."""
    return tuple(value_label(metadata.get(k)) for k in by)


def group(rows: list[ScoredRow], by: list[str]) -> dict[tuple[str, ...], list[ScoredRow]]:
    """Rows per combination of the keys' values (a row without a key is in its '(none)' slice)."""
    groups: dict[tuple[str, ...], list[ScoredRow]] = defaultdict(list)
    for row in rows:
        groups[slice_key(row.metadata, by)].append(row)
    return groups


def summarise_slices(rows: list[ScoredRow], by: list[str], resamples: int = 2000, seed: int = 0) -> Slices:
    """Each slice's summary, largest slices first."""
    groups = sorted(group(rows, by).items(), key=lambda item: (-len(item[1]), item[0]))
    out = []
    for values, members in groups[:MAX_SLICES]:
        summary = summarise(members, resamples, seed)
        metrics = {m: s for m, s in summary.metrics.items() if s.n}
        scored = max((s.n for s in metrics.values()), default=0)
        out.append(Slice(key=dict(zip(by, values, strict=True)), rows=summary.rows, scored=scored,
                         too_small=scored < MIN_SLICE_ROWS, gate_pass_rate=summary.gate_pass_rate, metrics=metrics))
    return Slices(by=by, slices=out, left_out=max(0, len(groups) - MAX_SLICES))


def sliceable_keys(rows: list[ScoredRow]) -> list[str]:
    """Metadata keys that split the rows into a few groups (2 to MAX_AUTO_VALUES values), for the report."""
    values: dict[str, set] = defaultdict(set)
    for row in rows:
        for key, value in row.metadata.items():
            if len(values[key]) <= MAX_AUTO_VALUES:
                values[key].add(value_label(value))
    return sorted(k for k, v in values.items() if 2 <= len(v) <= MAX_AUTO_VALUES)


def job_slices(store, job_id: str, by: list[str]) -> Slices:
    """A stored batch's slices (reads every row of the job: call it off the event loop)."""
    return summarise_slices(store.scored_rows(job_id), by)
