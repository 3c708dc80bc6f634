"""Self-knowledge (RAGChecker): the share of the answer's claims that are right but in no context.

The model answered from its own knowledge. Right, but not grounded: in a RAG app that must answer
only from its documents this is a risk, hence lower is better. Null with `no_claims`.
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
        return [c.claim for c in claims if not c.faithful and c.correct], len(claims)
    return tally(compute)


METRIC = Metric(
    name="self_knowledge", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response", "reference"), optional_fields=(),
    needs=Needs(claims=True, correctness=True),
    null_reasons=(NO_CLAIMS, UNSUPPORTED_LANGUAGE),
    default=False, better="lower",
)
