"""Retriever context precision (RAGChecker): the share of chunks that support a reference statement.

Low precision means the retriever brings noise: chunks that hold none of the right answer. Named so
to tell it from context_precision (Ragas' rank-weighted usefulness). Null with `no_statements` when
the reference has none.
"""
from __future__ import annotations

import sys

from .claim_sets import NO_CHUNK_SUPPORT, ShareDetail, relevant_chunks, tally
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_STATEMENTS, UNSUPPORTED_LANGUAGE
from .sample import Sample


def score(sample: Sample, judged: Judged) -> ShareDetail:
    def compute():
        relevant = relevant_chunks(sample, judged)
        return [f"context {i}" for i in sorted(relevant)], len(sample.retrieved_contexts)
    return tally(compute)


METRIC = Metric(
    name="retriever_context_precision", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "reference"), optional_fields=("response",),
    needs=Needs(statements=True, chunk_support=True),
    null_reasons=(NO_STATEMENTS, NO_CHUNK_SUPPORT, UNSUPPORTED_LANGUAGE),
    default=False,
)
