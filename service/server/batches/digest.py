"""What the summary and the report of a batch need, read from the store a page at a time and cached per job.

Only the scores and gate verdicts are read, extracted from the stored results by the database (no sample,
no JSON parsed here); the report's worst rows are fetched whole at the end. A job's rows only ever go
from pending to finished, once, so the count of finished rows is the version of its digest: a cached
digest is reused until another row finishes.
"""
from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, field

from ragmeter.metrics import METRIC_NAMES

from ragmeter.service.rows import RowStatus, ScoredRow
from ragmeter.service.server.batches.store import Row, Store
from ragmeter.service.analysis.summary import Summary, summary_of

PAGE_ROWS = 5_000
WORST_ROWS = 20
FAITHFULNESS = METRIC_NAMES.index("faithfulness")


@dataclass
class Digest:
    summary: Summary
    scores: dict[str, list[float]]  # per metric, the rows' scores (for histograms)
    worst: list[ScoredRow]  # gate failures first, then lowest faithfulness
    errors: list[ScoredRow] = field(default_factory=list)  # the first rows that ended in an error
    # Per worst row (by its 1-based number), the claims the contexts contradict rather than merely not support.
    contradicted: dict[int, set[str]] = field(default_factory=dict)
    # Per worst row, its claims the contexts do not back (verdict and span), to mark them where they are.
    unbacked: dict[int, list[dict]] = field(default_factory=dict)


def digest(store: Store, job_id: str, page_rows: int = PAGE_ROWS) -> Digest:
    """One pass over the job's results; memory grows with its scores, not with its texts."""
    scores: dict[str, list[float]] = {m: [] for m in METRIC_NAMES}
    verdicts: list[bool] = []
    worst: list[tuple] = []
    errors: list[int] = []
    total = finished = failed = start = 0
    while page := store.outcomes(job_id, start, page_rows):
        start = page[-1][0] + 1
        total += len(page)
        candidates = []
        for index, status, passed, *values in page:
            finished += status != RowStatus.PENDING
            if status == RowStatus.ERROR:
                failed += 1
                if len(errors) < WORST_ROWS:
                    errors.append(index)
            for metric, value in zip(METRIC_NAMES, values, strict=True):
                if value is not None:
                    scores[metric].append(value)
            if passed is not None:
                verdicts.append(passed)
            faithfulness = values[FAITHFULNESS]
            if faithfulness is not None or passed is not None:
                candidates.append((passed is not False, 1.0 if faithfulness is None else faithfulness, index))
        worst = heapq.nsmallest(WORST_ROWS, worst + candidates)
    summary = summary_of(scores, verdicts, rows=total, finished=finished, errors=failed)
    worst_rows = _rows(store, job_id, [w[2] for w in worst])
    return Digest(summary, scores, [r.scored_row() for r in worst_rows],
                  [r.scored_row() for r in _rows(store, job_id, errors)],
                  {r.index + 1: contradicted_claims(r.result) for r in worst_rows},
                  {r.index + 1: unbacked_claims(r.result) for r in worst_rows})


def _rows(store: Store, job_id: str, indices: list[int]) -> list[Row]:
    by_index = {row.index: row for row in store.rows_at(job_id, indices)} if indices else {}
    return [by_index[i] for i in indices]


def contradicted_claims(result: dict | None) -> set[str]:
    """The claims a stored result's faithfulness verdicts call contradicted."""
    return {c["claim"] for c in unbacked_claims(result) if c.get("verdict") == "contradicted"}


def unbacked_claims(result: dict | None) -> list[dict]:
    """The claims a stored result's faithfulness verdicts call unsupported or contradicted."""
    claims = ((result or {}).get("details") or {}).get("faithfulness", {}).get("claims") or []
    return [c for c in claims if c.get("verdict") != "supported"]


class DigestCache:
    """The latest digests of the most recently read jobs, each tagged with the finished-row count it was made at."""

    def __init__(self, size: int = 32):
        self.size = size
        self._entries: OrderedDict[str, tuple[int, Digest]] = OrderedDict()

    def get(self, store: Store, job_id: str, finished: int) -> Digest:
        """The job's digest at `finished` rows finished: cached, or computed (call it off the event loop)."""
        cached = self._entries.get(job_id)
        if cached is not None and cached[0] == finished:
            self._entries.move_to_end(job_id)
            return cached[1]
        fresh = digest(store, job_id)
        self._entries[job_id] = (finished, fresh)
        self._entries.move_to_end(job_id)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return fresh
