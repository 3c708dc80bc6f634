"""Overall F1 (RAGChecker): the harmonic mean of overall precision and overall recall.

0 when either is 0, as in RAGChecker; null when either is null (no claims, no statements).
"""
from __future__ import annotations

import sys

from .claim_sets import Incomplete, claims_vs_reference, statements_vs_answer
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_CLAIMS, NO_STATEMENTS, UNSUPPORTED_LANGUAGE, MetricScore
from .sample import Sample


class OverallF1Detail(MetricScore):
    precision: float | None = None
    recall: float | None = None


def f1(precision: float, recall: float) -> float:
    """2PR / (P + R), 0 when either is 0."""
    return 2 * precision * recall / (precision + recall) if precision > 0 and recall > 0 else 0.0


def score(sample: Sample, judged: Judged) -> OverallF1Detail:
    try:
        claims, statements = claims_vs_reference(judged), statements_vs_answer(judged)
    except Incomplete as missing:
        return OverallF1Detail.null(missing.reason)
    precision = sum(c.entailed for c in claims) / len(claims)
    recall = sum(s.entailed for s in statements) / len(statements)
    return OverallF1Detail.of(f1(precision, recall), precision=precision, recall=recall)


METRIC = Metric(
    name="overall_f1", module=sys.modules[__name__], detail=OverallF1Detail, score=score,
    required_fields=("response", "reference"), optional_fields=("user_input",),
    needs=Needs(correctness=True), null_reasons=(NO_CLAIMS, NO_STATEMENTS, UNSUPPORTED_LANGUAGE), default=False,
)
