"""Claim recall (RAGChecker, retriever): the share of the reference's statements some retrieved chunk supports.

Low claim recall means the retriever misses what the answer needs; the generator cannot fix that.
It counts the same statements as context_recall, read per chunk. Null with `no_statements` when the
reference has none.
"""
from __future__ import annotations

import sys

from .claim_sets import NO_CHUNK_SUPPORT, ShareDetail, reference_statements, statement_chunks, tally
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_STATEMENTS, UNSUPPORTED_LANGUAGE
from .sample import Sample


def score(sample: Sample, judged: Judged) -> ShareDetail:
    def compute():
        statements = reference_statements(sample, judged)
        chunks = statement_chunks(sample, judged)
        return [s.statement for s, c in zip(statements, chunks, strict=True) if c], len(statements)
    return tally(compute)


METRIC = Metric(
    name="claim_recall", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "reference"), optional_fields=("response",),
    needs=Needs(statements=True, chunk_support=True),
    null_reasons=(NO_STATEMENTS, NO_CHUNK_SUPPORT, UNSUPPORTED_LANGUAGE),
    default=False,
)
