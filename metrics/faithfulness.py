"""Faithfulness: the share of the answer's claims that the retrieved contexts support.

A claim counts as supported only when the judge says so *and* its evidence quote is
found in the contexts (see `evidence.check_claims`). An answer with no claims, such as
a refusal, has no faithfulness score: null with the reason `no_claims`.
"""
from __future__ import annotations

import math
import sys

from .evidence import check_claims
from .judgements import ClaimVerdict, Needs
from .metric import Judged, Metric, RagasCounterpart, replies_named
from .sample import Sample
from .metric_score import NO_CLAIMS, UNSUPPORTED_LANGUAGE, MetricScore, abstention


class FaithfulnessDetail(MetricScore):
    claims: list[ClaimVerdict] = []


def faithfulness(verdicts: list[ClaimVerdict]) -> MetricScore:
    """supported claims / all claims."""
    if not verdicts:
        return MetricScore.null(NO_CLAIMS)
    supported = sum(v.verdict == "supported" for v in verdicts)
    return MetricScore.of(supported / len(verdicts))


def score(sample: Sample, judged: Judged) -> FaithfulnessDetail:
    if not judged.parts.claims:
        return FaithfulnessDetail.null(NO_CLAIMS)
    claims = check_claims(judged.verdicts.claims, sample.retrieved_contexts)
    abstained = abstention(c.abstained for c in claims if c.verdict != "supported")
    judged_claims = [c for c in claims if not c.abstained or c.verdict == "supported"]
    if abstained and all(c.verdict == "supported" for c in judged_claims):
        return FaithfulnessDetail.null(abstained, claims=claims)
    # A claim found unsupported by what the judge can read (a changed number) still counts: the share
    # is taken over the claims the judge could judge.
    return FaithfulnessDetail(**dict(faithfulness(judged_claims)), claims=claims)


def from_ragas(value: float, replies: list, sample: Sample) -> MetricScore:
    """ragas' statements with their verdicts as claims; its NaN (no statements found) is `no_claims`."""
    found: list = next((r.statements for r in replies_named(replies, "NLIStatementOutput")), [])
    claims = [ClaimVerdict(claim=v.statement, verdict="supported" if v.verdict else "unsupported", reason=v.reason)
              for v in found]
    if math.isnan(value):
        return FaithfulnessDetail.null(NO_CLAIMS, claims=claims)
    return FaithfulnessDetail.of(value, claims=claims)


METRIC = Metric(
    name="faithfulness", module=sys.modules[__name__], detail=FaithfulnessDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response"),
    needs=Needs(claims=True), null_reasons=(NO_CLAIMS, UNSUPPORTED_LANGUAGE),
    ragas=RagasCounterpart("Faithfulness", ("user_input", "response", "retrieved_contexts"), from_ragas),
)
