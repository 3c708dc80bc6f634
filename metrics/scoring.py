"""One path from a sample to its result: decompose, then verify, rate relevance and embed, then the formulas.

The API, the CLI, batch jobs and the CI gate all score through `score_sample`, so they cannot
disagree about a score. A judge failure nulls only the scores that read the failed judgement.
"""
from __future__ import annotations

import asyncio
from dataclasses import replace
from collections.abc import Iterable
from typing import cast

from .diagnosis import diagnose
from .citations import Marked, mark, with_spans
from .gate import GateConfig, apply_gate
from .judgements import Comparison, Decomposition, ErrorInfo, JudgeError, Needs, Relevance, Usage, Verification
from .judges.protocol import Judge, Scorer
from .judges.registry import is_engine
from .metric import Judged, Metric
from .registry import DEFAULT_METRICS, METRICS
from .results import Details, SampleResult, Scores
from .sample import Sample
from .metric_score import INVALID_VALUE

# What the metrics a request did not ask for, or cannot score, are evaluated on: nothing.
NOTHING_JUDGED = Judged(None, None, None, None)


async def score_sample(sample: Sample, judge: Scorer, metrics: Iterable[str] | None = None,
                       gate: GateConfig | None = None, threshold: float | None = None,
                       citation_pattern: str | None = None) -> SampleResult:
    """Score one sample on the requested metrics (the default ones when None) and apply the gate.

    `citation_pattern`: the regex of citation markers (default `citations.DEFAULT_PATTERN`)."""
    gate = gate or GateConfig()
    wanted = frozenset(DEFAULT_METRICS if metrics is None else metrics) | frozenset(gate.limited_metrics) \
        | frozenset(["citation_recall"] if gate.fail_on_unsupported_citation else [])
    cited = mark(sample.response, citation_pattern)
    # The judges and the formulas read the answer without its markers; spans and citations map back to it.
    sample = sample.model_copy(update={"response": cited.text}) if cited.markers else sample
    active = [m for m in METRICS if m.name in wanted and m.missing_field(sample) is None]
    need = Needs.union(m.needs for m in active)
    usage = Usage()
    errors: list[ErrorInfo] = []

    if is_engine(judge):  # declared in the judge registry: it computes whole metrics itself (ragas)
        scored = await judge.score_metrics(sample, [m.name for m in active], usage, errors)
        details = {m.name: scored[m.name] if m.name in scored else m.evaluate(sample, NOTHING_JUDGED, m.name in wanted)
                   for m in METRICS}
    else:
        details = await _judged_details(sample, cast(Judge, judge), active, wanted, need, usage, errors, cited)
    if claims := getattr(details["faithfulness"], "claims", None):
        details["faithfulness"] = details["faithfulness"].model_copy(update={"claims": with_spans(claims, cited)})
    errors += [ErrorInfo(stage=name, kind=INVALID_VALUE, message="the computation gave NaN or an infinity")
               for name, detail in details.items() if detail.reason == INVALID_VALUE]
    checked = Details.model_validate(details)
    scores = {name: detail.score for name, detail in details.items()}
    return SampleResult(
        id=sample.id,
        scores=Scores(**scores),
        gate=apply_gate(details, checked.faithfulness.claims, gate,
                        _first_set(gate.threshold, threshold, judge.default_threshold)),
        details=checked,
        judge=judge.info,
        usage=usage,
        errors=errors,
        metadata=sample.metadata,
        diagnosis=diagnose(scores),
    )


async def _judged_details(sample: Sample, judge: Judge, active: list[Metric], wanted: frozenset[str], need: Needs,
                          usage: Usage, errors: list[ErrorInfo], cited: Marked) -> dict:
    """Each metric's detail from the judge's judgements: decompose, then verify, relevance and embeddings."""
    parts: Decomposition | None = Decomposition()
    if need.decompose:
        # The comparison reads the answer's claims and the reference's statements: they are taken apart
        # even when no requested metric verifies them against the contexts (verify keeps `need`).
        wider = replace(need, claims=need.claims or need.correctness,
                        statements=need.statements or (need.correctness and bool(sample.reference)))
        parts = await _attempt(judge.decompose(sample, wider, usage), errors)
    # Without a decomposition only the context verdicts can still be judged.
    verify_need = need if parts is not None else Needs(context_verdicts=need.context_verdicts)
    texts = list(dict.fromkeys(t for m in active if m.embeds for t in m.embeds(sample)))
    verification, relevance, vectors, comparison = await asyncio.gather(
        _attempt(judge.verify(sample, parts or Decomposition(), verify_need, usage), errors)
        if verify_need.verify else _done(Verification()),
        _attempt(judge.relevance(sample, parts, usage), errors)
        if need.relevance and parts is not None else _done(None if need.relevance else Relevance()),
        _attempt(judge.embed(texts, usage), errors) if texts else _done([]),
        _attempt(judge.compare(sample, parts, usage), errors)
        if need.correctness and parts is not None else _done(None if need.correctness else Comparison()),
    )
    judged = Judged(parts, verification, relevance,
                    dict(zip(texts, vectors, strict=True)) if vectors is not None else None, comparison, cited)

    return {m.name: m.evaluate(sample, judged, m.name in wanted) for m in METRICS}


async def evaluate(samples: Iterable[Sample], judge: Scorer, metrics: Iterable[str] | None = None,
                   gate: GateConfig | None = None, threshold: float | None = None,
                   citation_pattern: str | None = None) -> list[SampleResult]:
    """Score many samples concurrently; the judge's own cap bounds the calls in flight."""
    metrics = None if metrics is None else tuple(metrics)
    return list(await asyncio.gather(*(score_sample(s, judge, metrics, gate, threshold, citation_pattern)
                                       for s in samples)))


def _first_set(*values: float | None) -> float:
    return next(v for v in values if v is not None)


async def _attempt(call, errors: list[ErrorInfo]):
    """Await a judge call; on failure record the error and return None."""
    try:
        return await call
    except JudgeError as exc:
        errors.append(exc.info)
        return None


async def _done(value):
    return value
