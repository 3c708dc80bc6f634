"""Citation recall: the share of the answer's sentences whose citations support them (ALCE, Gao et al. 2023).

Every sentence holding at least one of the answer's claims counts; it is supported when each of its claims
is supported by at least one of the contexts its markers ([1], [doc3], [^2]) cite. A sentence that cites
nothing counts as unsupported, as in ALCE, and so does a citation of a context that does not exist.
Sentences without claims are left out. Null with `no_citations` when the answer has no citation markers.
"""
from __future__ import annotations

import sys

from .citations_check import CitationDetail, analyse
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_CITATIONS, NO_CLAIMS, UNSUPPORTED_LANGUAGE
from .sample import Sample


class CitationRecallDetail(CitationDetail):
    pass


def score(sample: Sample, judged: Judged) -> CitationRecallDetail:
    sentences = analyse(sample, judged)
    if isinstance(sentences, str):
        return CitationRecallDetail.null(sentences)
    counted = [s for s in sentences if s.supported is not None]
    if not counted:
        return CitationRecallDetail.null(NO_CLAIMS, sentences=sentences)
    return CitationRecallDetail.of(sum(bool(s.supported) for s in counted) / len(counted), sentences=sentences)


METRIC = Metric(
    name="citation_recall", module=sys.modules[__name__], detail=CitationRecallDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response"),
    needs=Needs(claims=True, chunk_support=True), null_reasons=(NO_CITATIONS, NO_CLAIMS, UNSUPPORTED_LANGUAGE),
    default=False,
)
