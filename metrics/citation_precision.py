"""Citation precision: the share of the answer's citations that are needed (ALCE, Gao et al. 2023).

Each distinct context a sentence with claims cites is one citation. A citation is needed when the sentence's
citations together support it (each of its claims supported by at least one cited context) and either it
alone supports the sentence (each claim) or the other citations without it do not. So a citation of a
sentence its citations do not support, a citation of a context that does not exist, and a second citation
that adds nothing to a sentence already supported all count as unneeded. Null with `no_citations` when the
answer has no citation markers (or none on a sentence with claims).
"""
from __future__ import annotations

import sys

from .citations_check import CitationDetail, analyse
from .judgements import Needs
from .metric import Judged, Metric
from .metric_score import NO_CITATIONS, NO_CLAIMS, UNSUPPORTED_LANGUAGE
from .sample import Sample


class CitationPrecisionDetail(CitationDetail):
    pass


def score(sample: Sample, judged: Judged) -> CitationPrecisionDetail:
    sentences = analyse(sample, judged)
    if isinstance(sentences, str):
        return CitationPrecisionDetail.null(sentences)
    counted = [s for s in sentences if s.supported is not None and s.citations]
    citations = sum(len(s.citations) for s in counted)
    if not citations:
        return CitationPrecisionDetail.null(NO_CITATIONS, sentences=sentences)
    needed = sum(len(s.citations) - len(s.unneeded) for s in counted)
    return CitationPrecisionDetail.of(needed / citations, sentences=sentences)


METRIC = Metric(
    name="citation_precision", module=sys.modules[__name__], detail=CitationPrecisionDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response"),
    needs=Needs(claims=True, chunk_support=True), null_reasons=(NO_CITATIONS, NO_CLAIMS, UNSUPPORTED_LANGUAGE),
    default=False,
)
