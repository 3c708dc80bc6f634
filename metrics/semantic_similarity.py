"""Semantic similarity: how close the answer's meaning is to the reference answer's.

The cosine similarity of the answer's and the reference's embeddings, floored at 0 (the
Ragas "semantic similarity" metric). It reads no contexts: it says whether the answer says
what the reference says, not whether the contexts support it. Computed only when requested.
"""
from __future__ import annotations

import sys

from .answer_relevancy import cosine_similarities
from .metric import Judged, Metric, RagasCounterpart
from .sample import Sample
from .metric_score import MetricScore


class SemanticSimilarityDetail(MetricScore):
    pass


def score(sample: Sample, judged: Judged) -> SemanticSimilarityDetail:
    reference = sample.reference or ""  # a required field: never empty here
    [similarity] = cosine_similarities(judged.vector(reference), [judged.vector(sample.response)])
    return SemanticSimilarityDetail.of(similarity)  # floored at 0; NaN becomes invalid_value


def from_ragas(value: float, replies: list, sample: Sample) -> MetricScore:
    return SemanticSimilarityDetail.of(value)


METRIC = Metric(
    name="semantic_similarity", module=sys.modules[__name__], detail=SemanticSimilarityDetail, score=score,
    required_fields=("response", "reference"), embeds=lambda sample: [sample.reference or "", sample.response],
    default=False,
    ragas=RagasCounterpart("SemanticSimilarity", ("reference", "response"), from_ragas, uses=("embeddings",),
                           aliases=("answer_similarity",)),
)
