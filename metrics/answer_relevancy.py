"""Answer relevancy: how well the answer addresses the question asked.

The judge writes N questions that the answer would be a good answer to; the score is the
mean cosine similarity between the real question and those questions, floored at 0.
An evasive answer ("I don't know") scores 0 and is flagged `noncommittal`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .scores import MetricScore


def cosine_similarities(question: Sequence[float], generated: Sequence[Sequence[float]]) -> list[float]:
    """Cosine of the question's embedding with each generated question's embedding."""
    q = np.asarray(question, dtype=np.float64)
    g = np.asarray(generated, dtype=np.float64).reshape(len(generated), -1)
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(q)
    # A zero vector has no direction: it is similar to nothing.
    sims = np.divide(g @ q, norms, out=np.zeros(len(g)), where=norms > 0)
    return [float(s) for s in sims]


def answer_relevancy(similarities: list[float], noncommittal: bool) -> MetricScore:
    """Mean similarity, 0 when the answer is noncommittal or nothing was generated."""
    if noncommittal or not similarities:
        return MetricScore.of(0.0)
    return MetricScore.of(max(0.0, sum(similarities) / len(similarities)))
