"""Hallucination (RAGChecker): the share of the answer's claims that are neither in the contexts nor in the reference.

Made-up and wrong. RAGChecker's generator faithfulness is ragmeter's `faithfulness` (the same claims),
so on the same verdicts faithfulness + hallucination + self_knowledge = 1. Not the gate's
hallucination score (1 - faithfulness), which cannot tell wrong from unsupported. Lower is better.
"""
from __future__ import annotations

import sys

from .claim_sets import ShareDetail, answer_claims, tally
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_CLAIMS, UNSUPPORTED_LANGUAGE
from .sample import Sample


def score(sample: Sample, judged: Judged) -> ShareDetail:
    def compute():
        claims = answer_claims(sample, judged)
        return [c.claim for c in claims if not c.faithful and not c.correct], len(claims)
    return tally(compute)


METRIC = Metric(
    name="hallucination", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response", "reference"), optional_fields=(),
    needs=Needs(claims=True, correctness=True),
    null_reasons=(NO_CLAIMS, UNSUPPORTED_LANGUAGE),
    default=False, better="lower",
)
