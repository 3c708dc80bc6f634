"""Overall precision (RAGChecker): the share of the answer's claims that the reference answer entails.

Reads no contexts: it says how much of what the answer states is right. An answer with no claims
is null with `no_claims` (RAGChecker scores it 0).
"""
from __future__ import annotations

import sys

from .claim_sets import ShareDetail, claims_vs_reference, tally
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_CLAIMS, UNSUPPORTED_LANGUAGE
from .sample import Sample


def score(sample: Sample, judged: Judged) -> ShareDetail:
    def compute():
        claims = claims_vs_reference(judged)
        return [c.text for c in claims if c.entailed], len(claims)
    return tally(compute)


METRIC = Metric(
    name="overall_precision", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("response", "reference"), optional_fields=("user_input",),
    needs=Needs(correctness=True),
    null_reasons=(NO_CLAIMS, UNSUPPORTED_LANGUAGE),
    default=False,
)
