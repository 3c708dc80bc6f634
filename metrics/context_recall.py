"""Context recall: the share of the reference's statements that the contexts can account for.

Without a reference there is nothing to recall: null with the reason `needs_reference`.
"""
from __future__ import annotations

from .scores import NO_STATEMENTS, MetricScore
from .types import StatementVerdict


def context_recall(verdicts: list[StatementVerdict]) -> MetricScore:
    """attributable statements / all statements."""
    if not verdicts:
        return MetricScore.null(NO_STATEMENTS)
    return MetricScore.of(sum(v.attributable for v in verdicts) / len(verdicts))
