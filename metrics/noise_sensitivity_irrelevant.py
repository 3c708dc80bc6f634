"""Noise sensitivity, irrelevant (RAGChecker): the share of answer claims wrong and only in irrelevant chunks.

An irrelevant chunk supports no reference statement; a claim also supported by a relevant chunk
counts under noise_sensitivity_relevant instead. Lower is better. Null with `no_claims` or
`no_statements`.
"""
from __future__ import annotations

import sys

from .claim_sets import NO_CHUNK_SUPPORT, ShareDetail, answer_claims, relevant_chunks, tally
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_CLAIMS, NO_STATEMENTS, UNSUPPORTED_LANGUAGE
from .sample import Sample


def score(sample: Sample, judged: Judged) -> ShareDetail:
    def compute():
        relevant = relevant_chunks(sample, judged)
        claims = answer_claims(sample, judged, chunks=True)
        return [c.claim for c in claims if not c.correct and c.chunks and not c.chunks & relevant], len(claims)
    return tally(compute)


METRIC = Metric(
    name="noise_sensitivity_irrelevant", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response", "reference"), optional_fields=(),
    needs=Needs(claims=True, statements=True, chunk_support=True, correctness=True),
    null_reasons=(NO_CLAIMS, NO_STATEMENTS, NO_CHUNK_SUPPORT, UNSUPPORTED_LANGUAGE),
    default=False, better="lower",
)
