"""Overall recall (RAGChecker): the share of the reference's statements that the answer entails.

Reads no contexts: it says how much of the right answer the answer gives. A reference with no
statements is null with `no_statements`.
"""
from __future__ import annotations

import sys

from .claim_sets import ShareDetail, statements_vs_answer, tally
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_STATEMENTS, UNSUPPORTED_LANGUAGE
from .sample import Sample


def score(sample: Sample, judged: Judged) -> ShareDetail:
    def compute():
        statements = statements_vs_answer(judged)
        return [s.text for s in statements if s.entailed], len(statements)
    return tally(compute)


METRIC = Metric(
    name="overall_recall", module=sys.modules[__name__], detail=ShareDetail, score=score,
    required_fields=("response", "reference"), optional_fields=("user_input",),
    needs=Needs(correctness=True),
    null_reasons=(NO_STATEMENTS, UNSUPPORTED_LANGUAGE),
    default=False,
)
