"""Context precision: are the useful contexts ranked first?

Each context gets a usefulness verdict against the reference (or, without one, against
the answer); the score is the average precision over the contexts in the given order:
sum_k(precision@k * useful_k) / number of useful contexts. No useful context scores 0.
"""
from __future__ import annotations

from .scores import MetricScore


def average_precision(useful: list[bool]) -> float:
    """Average precision of a ranked list of relevance flags."""
    hits = 0
    total = 0.0
    for k, is_useful in enumerate(useful, start=1):
        if is_useful:
            hits += 1
            total += hits / k
    return total / hits if hits else 0.0


def context_precision(useful: list[bool]) -> MetricScore:
    return MetricScore.of(average_precision(useful))
