"""Answer relevancy: how well the answer addresses the question asked.

The judge writes N questions that the answer would be a good answer to; the score is the
mean cosine similarity between the real question and those questions, floored at 0.
An evasive answer ("I don't know") scores 0 and is flagged `noncommittal`. A judge that
writes no questions (the embedded one) gives a direct estimate from its own signals instead.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np
from pydantic import Field

from .judgements import GeneratedQuestion, Needs
from .metric import Judged, Metric, RagasCounterpart, replies_named
from .sample import Sample
from .metric_score import MetricScore


class AnswerRelevancyDetail(MetricScore):
    noncommittal: bool = False
    questions: list[GeneratedQuestion] = []
    signals: dict[str, float] | None = Field(
        default=None, description="The embedded judge's relevance signals, when it scored this.")


def cosine_similarities(question: Sequence[float], generated: Sequence[Sequence[float]]) -> list[float]:
    """Cosine of the question's embedding with each generated question's embedding."""
    q = np.asarray(question, dtype=np.float64)
    g = np.asarray(generated, dtype=np.float64).reshape(len(generated), -1)
    norms = np.linalg.norm(g, axis=1) * np.linalg.norm(q)
    # A zero vector has no direction: it is similar to nothing. A NaN stays NaN, to be reported.
    with np.errstate(invalid="ignore"):
        sims = np.divide(g @ q, norms, out=np.zeros(len(g)), where=norms != 0)
    return [float(s) for s in sims]


def answer_relevancy(similarities: list[float], noncommittal: bool) -> MetricScore:
    """Mean similarity floored at 0; 0 when the answer is noncommittal or nothing was generated."""
    if noncommittal or not similarities:
        return MetricScore.of(0.0)
    return MetricScore.of(sum(similarities) / len(similarities))  # `of` floors at 0 and nulls a NaN


def score(sample: Sample, judged: Judged) -> AnswerRelevancyDetail:
    relevance = judged.relevance
    evidence = {"noncommittal": relevance.noncommittal, "questions": relevance.questions,
                "signals": relevance.signals or None}
    if relevance.estimate is not None and not relevance.noncommittal:
        return AnswerRelevancyDetail.of(relevance.estimate, **evidence)
    sims = [q.similarity for q in relevance.questions if q.similarity is not None]
    return AnswerRelevancyDetail(**dict(answer_relevancy(sims, relevance.noncommittal)), **evidence)


def from_ragas(value: float, replies: list, sample: Sample) -> MetricScore:
    """ragas' generated questions; noncommittal when it found every one noncommittal."""
    generated = [r for r in replies_named(replies, "AnswerRelevanceOutput") if r.question]
    noncommittal = bool(generated) and all(r.noncommittal for r in generated)
    return AnswerRelevancyDetail.of(value, noncommittal=noncommittal,
                                    questions=[GeneratedQuestion(question=r.question) for r in generated])


METRIC = Metric(
    name="answer_relevancy", module=sys.modules[__name__], detail=AnswerRelevancyDetail, score=score,
    required_fields=("user_input", "response"), needs=Needs(relevance=True),
    ragas=RagasCounterpart("AnswerRelevancy", ("user_input", "response"), from_ragas,
                           uses=("llm", "embeddings", "strictness")),
)
