"""Faithfulness: the share of the answer's claims that the retrieved contexts support.

A claim counts as supported only when the judge says so *and* its evidence quote is
found in the contexts (see `evidence.check_claims`). An answer with no claims, such as
a refusal, has no faithfulness score: null with the reason `no_claims`.
"""
from __future__ import annotations

from .scores import NO_CLAIMS, MetricScore
from .types import ClaimVerdict


def faithfulness(verdicts: list[ClaimVerdict]) -> MetricScore:
    """supported claims / all claims."""
    if not verdicts:
        return MetricScore.null(NO_CLAIMS)
    supported = sum(v.verdict == "supported" for v in verdicts)
    return MetricScore.of(supported / len(verdicts))
