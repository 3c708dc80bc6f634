"""POST /v1/evaluate: score up to a few dozen samples synchronously."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from ragmeter.metrics import DEFAULT_METRICS, GateConfig, MetricName, Sample, SampleResult, Usage, evaluate
from ragmeter.metrics.judges import Judge
from ragmeter.metrics.registry import requiring

from ..settings import Settings
from .deps import get_judge, get_settings

router = APIRouter(prefix="/v1", tags=["evaluate"])


class EvaluateRequest(BaseModel):
    samples: list[Sample] = Field(min_length=1, description="Question / contexts / answer triples.")
    metrics: list[MetricName] | None = Field(
        default=None, description="Metrics to compute; the four Ragas metrics when omitted (see GET /v1/metrics).")
    gate: GateConfig | None = Field(default=None, description="Hallucination threshold and per-metric minimums.")

    model_config = {"json_schema_extra": {"examples": [{
        "samples": [{
            "user_input": "When was the Eiffel Tower completed?",
            "retrieved_contexts": ["The Eiffel Tower was completed in March 1889 for the World's Fair."],
            "response": "It was completed in 1889, and it is the tallest building in Europe.",
            "reference": "The Eiffel Tower was completed in 1889.",
        }],
        "metrics": ["faithfulness", "answer_relevancy", "context_precision", "context_recall"],
        "gate": {"threshold": 0.2},
    }]}}


class EvaluateResponse(BaseModel):
    results: list[SampleResult]
    usage: Usage = Field(description="Judge cost of the whole request.")


@router.post("/evaluate")
async def evaluate_samples(body: EvaluateRequest, judge: Annotated[Judge, Depends(get_judge)],
                           settings: Annotated[Settings, Depends(get_settings)]) -> EvaluateResponse:
    """Scores, gate verdict and evidence for each sample. A gate failure is data: still HTTP 200."""
    if len(body.samples) > settings.max_samples_per_request:
        raise HTTPException(413, f"{len(body.samples)} samples is more than the "
                                 f"{settings.max_samples_per_request} allowed per request "
                                 "(RAGMETER_MAX_SAMPLES_PER_REQUEST); upload larger sets to POST /v1/batches")
    metrics = tuple(dict.fromkeys(body.metrics)) if body.metrics else DEFAULT_METRICS
    gate = body.gate or GateConfig()
    wanted = set(metrics) | set(gate.min_scores)
    problems = [p for i, s in enumerate(body.samples) for p in _limit_problems(i, s, wanted, settings)]
    if problems:
        raise RequestValidationError(problems)

    results = await evaluate(body.samples, judge, metrics, gate, settings.hallucination_threshold)
    total = Usage()
    for result in results:
        total.add(result.usage)
    return EvaluateResponse(results=results, usage=total)


def _limit_problems(i: int, sample: Sample, wanted: set[str], settings: Settings) -> list[dict]:
    """Size limits and per-metric requirements, in FastAPI's own 422 error shape."""
    problems = []

    def problem(field: str | tuple, kind: str, msg: str) -> None:
        loc = ("body", "samples", i) + (field if isinstance(field, tuple) else (field,))
        problems.append({"type": kind, "loc": loc, "msg": msg, "input": None})

    for field in ("user_input", "response", "reference"):
        value = getattr(sample, field)
        if value is not None and len(value) > settings.max_field_chars:
            problem(field, "string_too_long", f"{len(value)} characters is more than "
                                              f"RAGMETER_MAX_FIELD_CHARS={settings.max_field_chars}")
    contexts = sample.retrieved_contexts
    if len(contexts) > settings.max_contexts:
        problem("retrieved_contexts", "too_long",
                f"{len(contexts)} contexts is more than RAGMETER_MAX_CONTEXTS={settings.max_contexts}")
    for j, context in enumerate(contexts):
        if len(context) > settings.max_context_chars:
            problem(("retrieved_contexts", j), "string_too_long",
                    f"{len(context)} characters is more than RAGMETER_MAX_CONTEXT_CHARS={settings.max_context_chars}")
    needing = sorted(requiring("retrieved_contexts", wanted))
    if needing and not contexts:
        problem("retrieved_contexts", "missing", f"must hold at least one context for {', '.join(needing)}")
    return problems
