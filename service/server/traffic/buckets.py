"""Bucketed statistics of production records, computed inside the database (SQLite and PostgreSQL alike).

The database returns one row per (metric, bucket[, group], histogram bin) instead of one per record: the
count of records, of values, their sum, sum of squares, minimum and maximum. These are the statistics an
hourly roll-up keeps, so `Agg` folds raw buckets and roll-ups alike: the mean's interval is exact from the
sums. p10 is read from the 20-bin histogram: its order statistics are placed evenly between their bin's
smallest and largest value, so within that spread (at most 0.05) and exact for a bin of one or two values;
where a bin's extremes are unknown (a roll-up made before they were kept), evenly across the bin (within 0.05).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import (BigInteger, ColumnElement, Float, Integer, String, case, cast, func, literal, null, select,
                        union_all)
from sqlalchemy.orm import Session

from ragmeter.service.analysis.stats import mean_ci, wilson_ci
from ragmeter.service.server.traffic.tables import PASS_RATE, Record

BINS = 20
NONE_LABEL = "(none)"  # what metadata.value_label names a missing or empty value


def hist20(values: np.ndarray) -> np.ndarray:
    """Counts of `values` (in [0, 1]) in 20 equal bins; 1.0 falls in the last."""
    return np.bincount(np.clip((values * BINS).astype(int), 0, BINS - 1), minlength=BINS)


def bin_extremes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The smallest and largest of `values` in each of hist20's bins; NaN for an empty bin."""
    bins = np.clip((values * BINS).astype(int), 0, BINS - 1)
    low, high = np.full(BINS, np.nan), np.full(BINS, np.nan)
    np.fmin.at(low, bins, values)
    np.fmax.at(high, bins, values)
    return low, high


def merge_bins(hist: np.ndarray, low: np.ndarray, high: np.ndarray, counts: np.ndarray, smallest: np.ndarray,
               largest: np.ndarray) -> None:
    """Fold `counts` and their bins' extremes (NaN: unknown) into `hist`, `low` and `high`, in place. A bin stays
    exact only while the extremes of every value in it are known; otherwise its extremes become unknown."""
    adding = counts > 0
    known = ((hist == 0) | ~np.isnan(low)) & ~np.isnan(smallest)
    low[adding] = np.where(known, np.fmin(low, smallest), np.nan)[adding]
    high[adding] = np.where(known, np.fmax(high, largest), np.nan)[adding]
    hist += counts


def hist_quantile(hist: np.ndarray, q: float, low: np.ndarray | None = None,
                  high: np.ndarray | None = None) -> float | None:
    """The q-quantile from a 20-bin histogram, interpolated between order statistics as np.percentile does.

    Where a bin's smallest and largest values are known (`low`, `high`; NaN where not), its order statistics are
    placed evenly from one to the other, so they are exact at both ends; elsewhere evenly inside the bin.
    """
    n = int(hist.sum())
    if n == 0:
        return None
    cumulative = np.cumsum(hist)

    def order_stat(k: int) -> float:  # the k-th smallest value, 1-based
        b = int(np.searchsorted(cumulative, k))
        j, count = k - (int(cumulative[b - 1]) if b else 0), int(hist[b])
        if low is not None and high is not None and not np.isnan(low[b]):
            return float(low[b] + (high[b] - low[b]) * ((j - 1) / (count - 1) if count > 1 else 0.0))
        return float((b + (j - 0.5) / count) / BINS)

    rank = q * (n - 1)
    below = int(rank)
    if below + 1 >= n:
        return order_stat(n)
    return order_stat(below + 1) + (rank - below) * (order_stat(below + 2) - order_stat(below + 1))


@dataclass
class Agg:
    """One bucket of one series: finished records, values, their sums and histogram, raw or rolled up."""

    records: int = 0
    n: int = 0
    total: float = 0.0
    total_sq: float = 0.0
    hist: np.ndarray = field(default_factory=lambda: np.zeros(BINS, dtype=int))
    # Smallest and largest value per bin; NaN where unknown (a roll-up made before they were kept).
    low: np.ndarray = field(default_factory=lambda: np.full(BINS, np.nan))
    high: np.ndarray = field(default_factory=lambda: np.full(BINS, np.nan))
    rolled_up: bool = False

    def add_bin(self, b: int | None, records: int, count: int, total: float, total_sq: float,
                smallest: float | None, largest: float | None) -> None:
        """One row of the database's answer: `b` is None for the records without a value."""
        self.records += records
        if b is None or count == 0:
            return
        self.n += count
        self.total += total
        self.total_sq += total_sq
        known = self.hist[b] == 0 or not np.isnan(self.low[b])
        self.hist[b] += count
        if known and smallest is not None and largest is not None:
            self.low[b] = np.fmin(self.low[b], smallest)
            self.high[b] = np.fmax(self.high[b], largest)
        else:
            self.low[b] = self.high[b] = np.nan

    def add_rollup(self, count: int, total: float, total_sq: float, hist: Sequence[int],
                   low: Sequence[float | None] | None = None, high: Sequence[float | None] | None = None) -> None:
        """One roll-up row; `low` and `high` are its bins' extremes (None: not kept, as before migration 0005)."""
        self.rolled_up = True
        self.n += count
        self.total += total
        self.total_sq += total_sq
        merge_bins(self.hist, self.low, self.high, np.asarray(hist, dtype=int), extremes(low), extremes(high))

    def stats(self, pass_rate: bool) -> dict[str, Any]:
        """count, nulls, mean, p10 and ci95 (rounded to 4 places, inside [0, 1]) and rolled_up."""
        nulls = max(0, self.records - self.n)
        if self.n == 0:
            return {"count": 0, "nulls": nulls, "mean": None, "p10": None, "ci95": None, "rolled_up": self.rolled_up}
        ci = wilson_ci(round(self.total), self.n) if pass_rate else mean_ci(self.n, self.total, self.total_sq)
        p10 = None if pass_rate else hist_quantile(self.hist, 0.1, self.low, self.high)
        return {"count": self.n, "nulls": nulls, "mean": _r(self.total / self.n), "p10": _r(p10),
                "ci95": (_r(ci[0]), _r(ci[1])) if ci else None, "rolled_up": self.rolled_up}


def extremes(stored: Sequence[float | None] | None) -> np.ndarray:
    """Per-bin extremes as stored in a roll-up (JSON: null for none) as an array; NaN where none or not kept."""
    if stored is None:
        return np.full(BINS, np.nan)
    return np.array([np.nan if v is None else v for v in stored], dtype=float)


def stored_extremes(values: np.ndarray) -> list[float | None]:
    """Per-bin extremes as a roll-up stores them: JSON null where NaN (an empty bin, or unknown). Rounded to 5 places
    (p10 is given to 4): half the bytes of full floats in every roll-up row kept forever."""
    return [None if np.isnan(v) else round(float(v), 5) for v in values]


def _r(value: float | None) -> float | None:
    return None if value is None else round(min(1.0, max(0.0, value)), 4)


def meta_text(dialect: str, key: str) -> ColumnElement[Any]:
    """The record's metadata value for `key` as text, as `metadata.value_label` writes it ("3", "true", "(none)")."""
    if '"' in key or "\\" in key:
        raise ValueError(f"metadata key {key!r}: '\"' and '\\' are not allowed")
    if dialect == "sqlite":
        kind = sqlite_meta(func.json_type, key)  # json_extract gives true as 1: json_type tells booleans apart
        text: ColumnElement[Any] = case((kind == "true", "true"), (kind == "false", "false"),
                                        else_=cast(sqlite_meta(func.json_extract, key), String))
    else:
        text = Record.meta[key].as_string()  # ->> gives a scalar's JSON text, strings unquoted
    return func.coalesce(func.nullif(text, ""), NONE_LABEL)


def sqlite_meta(read: Any, key: str) -> ColumnElement[Any]:
    """`read` (json_extract, json_type) of a metadata key on SQLite: by the key as written, else as stored.

    The JSON column is written with ASCII escapes ("modèle" as "mod\\u00e8le"), and SQLite (3.40) compares a
    path's key with the stored key's text, escapes and all; both are tried, as later versions may unescape.
    """
    stored = json.dumps(key)[1:-1]
    found = read(Record.meta, f'$."{key}"')
    return found if stored == key else func.coalesce(found, read(Record.meta, f'$."{stored}"'))


def bucket_index(dialect: str, origin: int, bucket_s: int) -> ColumnElement[int]:
    """Which bucket (origin + i * bucket_s seconds) a record's ts falls in; ts is never before origin."""
    if dialect == "sqlite":  # DateTime(timezone=True) is TEXT in UTC there ('2025-03-01 12:00:00.000000')
        seconds: ColumnElement[int] = cast(func.strftime("%s", Record.ts), Integer)
    else:
        seconds = cast(func.floor(func.extract("epoch", Record.ts)), BigInteger)
    return (seconds - origin) // bucket_s


def value_of(metric: str) -> ColumnElement[Any]:
    """The metric's value column as a float (the pass rate: 1.0 passed, 0.0 failed, NULL without a verdict)."""
    if metric == PASS_RATE:
        return case((Record.gate_passed.is_(True), 1.0), (Record.gate_passed.is_(False), 0.0))
    return cast(getattr(Record, metric), Float)


def bin_of(value: ColumnElement[Any], dialect: str) -> ColumnElement[int]:
    """hist20's bin of a value in [0, 1]: floor(value * 20), 1.0 in the last; NULL for NULL."""
    scaled = value * BINS
    down = cast(scaled, Integer) if dialect == "sqlite" else cast(func.floor(scaled), Integer)  # PG's cast rounds
    return case((scaled >= BINS - 1, BINS - 1), else_=down)


@dataclass(frozen=True)
class Row:
    metric: str
    bucket: int
    group: str | None
    bin: int | None
    records: int
    count: int
    total: float
    total_sq: float
    low: float | None
    high: float | None


@dataclass
class Groups:
    """With group_by: the `top` values with the most records (ties by name) and how many other values there are."""

    top: list[str]
    left_out: int


def aggregate(session: Session, metrics: Sequence[str], filters: Sequence[ColumnElement[bool]], origin: int,
              bucket_s: int, group: ColumnElement[Any] | None = None, top: int = 5) -> tuple[list[Row], Groups]:
    """Per metric, bucket, (top) group and bin of the records matching `filters`: how many records, values, their
    sums, smallest and largest. The records are read once, into a small table (a CTE used several times, which
    both databases materialize) of bucket, group, values and bins, then grouped once per metric."""
    dialect = session.get_bind().dialect.name
    values = [value_of(m) for m in metrics]
    # Bins, bucket and group are columns of the CTE so that each GROUP BY names plain columns (PostgreSQL would
    # see expressions' bound parameters as different expressions).
    per_record = (select(bucket_index(dialect, origin, bucket_s).label("b"),
                         *([group.label("g")] if group is not None else []),
                         *(v.label(f"v{i}") for i, v in enumerate(values)),
                         *(bin_of(v, dialect).label(f"bin{i}") for i, v in enumerate(values)))
                  .where(*filters).cte("per_record"))
    c = per_record.c
    grouped = [c.g] if group is not None else []
    kept: list[ColumnElement[bool]] = []
    parts = []
    if group is not None:
        n = func.count()
        ranked = (select(c.g, n.label("n"), func.count().over().label("groups")).group_by(c.g)
                  .order_by(n.desc(), c.g).limit(top).cte("ranked"))
        kept.append(c.g.in_(select(ranked.c.g)))
        # The ranking rides along as rows of metric -1: its `b` is how many values there are, `records` its count.
        parts.append(select(literal(-1, Integer), ranked.c.groups, cast(null(), Integer), ranked.c.g, ranked.c.n,
                            literal(0, Integer), cast(null(), Float), cast(null(), Float), cast(null(), Float),
                            cast(null(), Float)))
    for i in range(len(metrics)):
        v, bin_ = c[f"v{i}"], c[f"bin{i}"]
        parts.insert(i, select(literal(i, Integer).label("k"), c.b, bin_.label("bin"), *grouped, func.count(),
                               func.count(v), func.sum(v), func.sum(v * v), func.min(v), func.max(v))
                     .where(*kept).group_by(c.b, bin_, *grouped))
    out = []
    ranking: list[tuple[int, str]] = []
    groups = 0
    for r in session.execute(union_all(*parts) if len(parts) > 1 else parts[0]):
        k, b, bin_, *rest = r
        g = rest.pop(0) if group is not None else None
        records, count, total, total_sq, low, high = rest
        if k < 0:
            ranking.append((-int(records), str(g)))
            groups = int(b)
            continue
        out.append(Row(metric=metrics[k], bucket=int(b), group=g, bin=None if bin_ is None else int(bin_),
                       records=int(records), count=int(count), total=float(total or 0.0),
                       total_sq=float(total_sq or 0.0), low=low, high=high))
    # Ties in the order Python names them, whatever the database's collation.
    return out, Groups(top=[g for _, g in sorted(ranking)], left_out=max(0, groups - top))
