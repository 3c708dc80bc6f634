"""Context recall: the share of the reference's statements that the contexts can account for.

Without a reference there is nothing to recall: null with the reason `needs_reference`.
"""
from __future__ import annotations

import math
import sys

from .evidence import check_statements
from .judgements import Needs, StatementVerdict
from .metric import Judged, Metric, RagasCounterpart, replies_named
from .sample import Sample
from .metric_score import NO_STATEMENTS, UNSUPPORTED_LANGUAGE, MetricScore, abstention


class ContextRecallDetail(MetricScore):
    statements: list[StatementVerdict] = []


def context_recall(verdicts: list[StatementVerdict]) -> MetricScore:
    """attributable statements / all statements."""
    if not verdicts:
        return MetricScore.null(NO_STATEMENTS)
    return MetricScore.of(sum(v.attributable for v in verdicts) / len(verdicts))


def score(sample: Sample, judged: Judged) -> ContextRecallDetail:
    if not judged.parts.statements:
        return ContextRecallDetail.null(NO_STATEMENTS)
    statements = check_statements(judged.verdicts.statements, sample.retrieved_contexts)
    abstained = abstention(s.abstained for s in statements if not s.attributable)
    judged_statements = [s for s in statements if not s.abstained or s.attributable]
    if abstained and all(s.attributable for s in judged_statements):
        return ContextRecallDetail.null(abstained, statements=statements)
    return ContextRecallDetail(**dict(context_recall(judged_statements)), statements=statements)


def from_ragas(value: float, replies: list, sample: Sample) -> MetricScore:
    """ragas' attributed statements; its NaN (no statements found) is `no_statements`."""
    found: list = next((r.classifications for r in replies_named(replies, "ContextRecallOutput")), [])
    statements = [StatementVerdict(statement=c.statement, attributable=bool(c.attributed), reason=c.reason)
                  for c in found]
    if math.isnan(value):
        return ContextRecallDetail.null(NO_STATEMENTS, statements=statements)
    return ContextRecallDetail.of(value, statements=statements)


METRIC = Metric(
    name="context_recall", module=sys.modules[__name__], detail=ContextRecallDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "reference"), optional_fields=("response",),
    needs=Needs(statements=True), null_reasons=(NO_STATEMENTS, UNSUPPORTED_LANGUAGE),
    ragas=RagasCounterpart("ContextRecall", ("user_input", "retrieved_contexts", "reference"), from_ragas),
)
