"""Context utilization (RAGChecker): of the reference statements in the chunks, the share the answer states.

Low utilization with high claim recall means the generator ignores the right chunk. Null with
`no_statement_in_contexts` when no reference statement is in any chunk (RAGChecker scores it 0).
"""
from __future__ import annotations

import sys

from .claim_sets import (
    NO_CHUNK_SUPPORT,
    NO_STATEMENT_IN_CONTEXTS,
    Incomplete,
    ShareDetail,
    statement_chunks,
    statements_vs_answer,
    tally,
)
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_STATEMENTS, UNSUPPORTED_LANGUAGE
from .sample import Sample


def score(sample: Sample, judged: Judged) -> ShareDetail:
    def compute():
        chunks = statement_chunks(sample, judged)
        answered = statements_vs_answer(judged)
        if len(answered) != len(chunks):
            raise Incomplete(NO_STATEMENTS)  # the two judgements disagree on the reference's statements
        retrieved = [s for s, c in zip(answered, chunks, strict=True) if c]
        if not retrieved:
            raise Incomplete(NO_STATEMENT_IN_CONTEXTS)
        return [s.text for s in retrieved if s.entailed], len(retrieved)
    return tally(compute)


METRIC = Metric(
    name="context_utilization", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response", "reference"), optional_fields=(),
    needs=Needs(statements=True, chunk_support=True, correctness=True),
    null_reasons=(NO_STATEMENTS, NO_STATEMENT_IN_CONTEXTS, NO_CHUNK_SUPPORT, UNSUPPORTED_LANGUAGE),
    default=False,
)
