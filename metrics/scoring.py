"""One path from a sample to its result: decompose, verify and embed with the judge, then the formulas.

The API, the CLI, batch jobs and the CI gate all score through `score_sample`, so they cannot
disagree about a score. A judge failure nulls only the scores that needed the failed call.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, Field

from . import scores as reasons
from .answer_relevancy import answer_relevancy, cosine_similarities
from .context_precision import context_precision
from .context_recall import context_recall
from .evidence import check_claims, check_statements
from .faithfulness import faithfulness
from .gate import GateConfig, GateResult, apply_gate
from .judges.base import Judge
from .scores import MetricScore
from .types import (METRIC_NAMES, ClaimVerdict, ContextVerdict, Decomposition, ErrorInfo, JudgeError,
                    JudgeInfo, Needs, Sample, StatementVerdict, Usage, Verification)


class Scores(BaseModel):
    faithfulness: float | None = None
    answer_relevancy: float | None = None
    context_precision: float | None = None
    context_recall: float | None = None


class MetricDetail(BaseModel):
    score: float | None = None
    reason: str | None = Field(default=None, description="Why the score is null, when it is.")


class FaithfulnessDetail(MetricDetail):
    claims: list[ClaimVerdict] = []


class GeneratedQuestion(BaseModel):
    question: str
    similarity: float | None = None


class AnswerRelevancyDetail(MetricDetail):
    noncommittal: bool = False
    questions: list[GeneratedQuestion] = []
    signals: dict[str, float] | None = Field(
        default=None, description="The embedded judge's relevance signals, when it scored this.")


class ContextPrecisionDetail(MetricDetail):
    basis: Literal["reference", "response"] | None = Field(
        default=None, description="What usefulness was judged against: the reference, or the answer when there is none.")
    contexts: list[ContextVerdict] = []


class ContextRecallDetail(MetricDetail):
    statements: list[StatementVerdict] = []


class Details(BaseModel):
    faithfulness: FaithfulnessDetail
    answer_relevancy: AnswerRelevancyDetail
    context_precision: ContextPrecisionDetail
    context_recall: ContextRecallDetail


class SampleResult(BaseModel):
    id: str | int | None = None
    scores: Scores
    gate: GateResult
    details: Details
    judge: JudgeInfo
    usage: Usage
    errors: list[ErrorInfo] = []


async def score_sample(sample: Sample, judge: Judge, metrics: Iterable[str] = METRIC_NAMES,
                       gate: GateConfig | None = None, threshold: float | None = None) -> SampleResult:
    """Score one sample on the requested metrics and apply the gate."""
    gate = gate or GateConfig()
    wanted = frozenset(metrics) | frozenset(gate.min_scores)
    need = Needs.for_metrics(wanted, sample)
    usage = Usage()
    errors: list[ErrorInfo] = []

    parts: Decomposition | None = Decomposition()
    if need.decompose:
        parts = await _attempt(judge.decompose(sample, need, usage), errors)
    # Without a decomposition only the context verdicts can still be judged.
    verify_need = need if parts is not None else Needs(context_verdicts=need.context_verdicts)
    parts_or_empty = parts or Decomposition()
    embed_texts = ([sample.user_input] + parts_or_empty.questions
                   if need.questions and parts_or_empty.questions and not parts_or_empty.noncommittal
                   and parts_or_empty.relevance is None else [])

    verification, vectors = await asyncio.gather(
        _attempt(judge.verify(sample, parts_or_empty, verify_need, usage), errors)
        if verify_need.verify else _done(Verification()),
        _attempt(judge.embed(embed_texts, usage), errors) if embed_texts else _done([]),
    )

    contexts = sample.retrieved_contexts
    details = Details(
        faithfulness=_faithfulness(wanted, parts, verification, contexts),
        answer_relevancy=_answer_relevancy(wanted, parts, vectors),
        context_precision=_context_precision(wanted, sample, verification),
        context_recall=_context_recall(wanted, sample, parts, verification),
    )
    metric_scores = {name: MetricScore(value=getattr(details, name).score, reason=getattr(details, name).reason)
                     for name in METRIC_NAMES}
    return SampleResult(
        id=sample.id,
        scores=Scores(**{name: s.value for name, s in metric_scores.items()}),
        gate=apply_gate(metric_scores, details.faithfulness.claims, gate,
                        _first_set(gate.threshold, threshold, judge.default_threshold)),
        details=details,
        judge=judge.info,
        usage=usage,
        errors=errors,
    )


async def evaluate(samples: Iterable[Sample], judge: Judge, metrics: Iterable[str] = METRIC_NAMES,
                   gate: GateConfig | None = None, threshold: float | None = None) -> list[SampleResult]:
    """Score many samples concurrently; the judge's own cap bounds the calls in flight."""
    metrics = tuple(metrics)
    return list(await asyncio.gather(*(score_sample(s, judge, metrics, gate, threshold) for s in samples)))


# ---------------------------------------------------------------- per metric
def _faithfulness(wanted, parts, verification, contexts) -> FaithfulnessDetail:
    if "faithfulness" not in wanted:
        return FaithfulnessDetail(reason=reasons.NOT_REQUESTED)
    if not contexts:
        return FaithfulnessDetail(reason=reasons.NEEDS_CONTEXTS)
    if parts is None or (parts.claims and verification is None):
        return FaithfulnessDetail(reason=reasons.JUDGE_ERROR)
    claims = check_claims(verification.claims, contexts) if parts.claims else []
    return FaithfulnessDetail(**_flat(faithfulness(claims)), claims=claims)


def _answer_relevancy(wanted, parts, vectors) -> AnswerRelevancyDetail:
    if "answer_relevancy" not in wanted:
        return AnswerRelevancyDetail(reason=reasons.NOT_REQUESTED)
    if parts is None:
        return AnswerRelevancyDetail(reason=reasons.JUDGE_ERROR)
    if parts.noncommittal:
        return AnswerRelevancyDetail(**_flat(answer_relevancy([], True)), noncommittal=True,
                                     questions=[GeneratedQuestion(question=q) for q in parts.questions])
    if parts.relevance is not None:
        return AnswerRelevancyDetail(**_flat(MetricScore.of(parts.relevance.score)),
                                     signals=parts.relevance.signals)
    if vectors is None:
        return AnswerRelevancyDetail(reason=reasons.JUDGE_ERROR,
                                     questions=[GeneratedQuestion(question=q) for q in parts.questions])
    sims = cosine_similarities(vectors[0], vectors[1:]) if vectors else []
    return AnswerRelevancyDetail(
        **_flat(answer_relevancy(sims, False)),
        questions=[GeneratedQuestion(question=q, similarity=round(s, 6)) for q, s in zip(parts.questions, sims)])


def _context_precision(wanted, sample: Sample, verification) -> ContextPrecisionDetail:
    if "context_precision" not in wanted:
        return ContextPrecisionDetail(reason=reasons.NOT_REQUESTED)
    if not sample.retrieved_contexts:
        return ContextPrecisionDetail(reason=reasons.NEEDS_CONTEXTS)
    basis = "reference" if sample.reference is not None else "response"
    if verification is None:
        return ContextPrecisionDetail(reason=reasons.JUDGE_ERROR, basis=basis)
    useful = [c.useful for c in verification.contexts]
    return ContextPrecisionDetail(**_flat(context_precision(useful)), basis=basis,
                                  contexts=verification.contexts)


def _context_recall(wanted, sample: Sample, parts, verification) -> ContextRecallDetail:
    if "context_recall" not in wanted:
        return ContextRecallDetail(reason=reasons.NOT_REQUESTED)
    if sample.reference is None:
        return ContextRecallDetail(reason=reasons.NEEDS_REFERENCE)
    if not sample.retrieved_contexts:
        return ContextRecallDetail(reason=reasons.NEEDS_CONTEXTS)
    if parts is None or (parts.statements and verification is None):
        return ContextRecallDetail(reason=reasons.JUDGE_ERROR)
    statements = check_statements(verification.statements, sample.retrieved_contexts) if parts.statements else []
    return ContextRecallDetail(**_flat(context_recall(statements)), statements=statements)


# ---------------------------------------------------------------- helpers
def _first_set(*values: float | None) -> float:
    return next(v for v in values if v is not None)


def _flat(score: MetricScore) -> dict:
    return {"score": score.value, "reason": score.reason}


async def _attempt(call, errors: list[ErrorInfo]):
    """Await a judge call; on failure record the error and return None."""
    try:
        return await call
    except JudgeError as exc:
        errors.append(exc.info)
        return None


async def _done(value):
    return value
