"""POST /v1/evaluate: score up to a few dozen samples synchronously."""
from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, field_validator, model_validator

from ragmeter.metrics import DEFAULT_METRICS, GateConfig, MetricName, Sample, SampleResult, Usage, evaluate
from ragmeter.metrics.citations import compile_pattern, mark
from ragmeter.metrics.judges import Judge
from ragmeter.metrics.registry import requiring

from ragmeter.service.limits import Budget, limit_problems
from ragmeter.service.settings import Settings
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.api.deps import get_judge, get_settings
from ragmeter.service.server.api.json_body import JSONTextRoute
from ragmeter.service.server.api.responses import errors

router = APIRouter(prefix="/v1", tags=["evaluate"], dependencies=[Depends(get_tenant)], route_class=JSONTextRoute)
log = logging.getLogger("ragmeter.evaluate")
# Not sent (the client is gone); what the access log shows for a request whose client left mid-scoring (nginx's).
CLIENT_GONE = 499


class EvaluateRequest(BaseModel):
    samples: list[Sample] = Field(min_length=1, description="Question / contexts / answer triples.")
    metrics: list[MetricName] | None = Field(
        default=None, min_length=1,
        description="Metrics to compute; the four Ragas metrics when omitted (see GET /v1/metrics).")
    gate: GateConfig | None = Field(default=None, description="Hallucination threshold and per-metric minimums.")
    citation_pattern: str | None = Field(
        default=None, description="Regex of a citation marker, with one group: the 1-based context number; "
                                  "RAGMETER_CITATION_PATTERN when omitted.")

    @field_validator("citation_pattern")
    @classmethod
    def _one_group(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            compile_pattern(pattern)  # ValueError says what is wrong: a 422
        return pattern

    @model_validator(mode="after")
    def _fast_enough(self) -> EvaluateRequest:
        # The caller's own pattern is tried on each answer here, with its time limit, so one that backtracks
        # without end is a 422 rather than a scoring call that holds a core.
        if self.citation_pattern is not None:
            for sample in self.samples:
                mark(sample.response, self.citation_pattern)  # PatternTooSlow (a ValueError): a 422
        return self

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


@router.post("/evaluate", response_model=EvaluateResponse, responses=errors(401, 413, 429, 503))
async def evaluate_samples(request: Request, body: EvaluateRequest, judge: Annotated[Judge, Depends(get_judge)],
                           tenant: Annotated[str | None, Depends(get_tenant)],
                           settings: Annotated[Settings, Depends(get_settings)]) -> EvaluateResponse | Response:
    """Scores, gate verdict and evidence for each sample. A gate failure is data: still HTTP 200."""
    if len(body.samples) > settings.max_samples_per_request:
        raise HTTPException(413, f"{len(body.samples)} samples is more than the "
                                 f"{settings.max_samples_per_request} allowed per request "
                                 "(RAGMETER_MAX_SAMPLES_PER_REQUEST); upload larger sets to POST /v1/batches")
    if (wait := judge.unavailable_for()) > 0:  # the judge keeps failing: say so now rather than time out
        raise HTTPException(503, f"the judge is failing and its circuit breaker is open; retry in {wait:.0f} s",
                            headers={"Retry-After": str(max(1, round(wait)))})
    metrics = tuple(dict.fromkeys(body.metrics)) if body.metrics else DEFAULT_METRICS
    gate = body.gate or GateConfig()
    wanted = set(metrics) | gate.limited_metrics
    budget = Budget.of(settings, judge)
    problems = [p for i, s in enumerate(body.samples) for p in _limit_problems(i, s, wanted, settings, budget)]
    if problems:
        raise RequestValidationError(problems)

    if tenant is not None:
        request.app.state.quota.samples(tenant, len(body.samples))
    results = await _unless_client_leaves(request, evaluate(body.samples, judge, metrics, gate,
                                                            settings.hallucination_threshold,
                                                            body.citation_pattern or settings.citation_pattern))
    if results is None:
        return Response(status_code=CLIENT_GONE)
    total = Usage()
    for result in results:
        total.add(result.usage)
        request.app.state.telemetry.record(result, "evaluate")
    return EvaluateResponse(results=results, usage=total)


async def _unless_client_leaves(request: Request, scoring) -> list[SampleResult] | None:
    """The results; None, with the scoring cancelled, when the client disconnects first (nobody would read them)."""
    task = asyncio.ensure_future(scoring)
    gone = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()
    if not task.done() or task.cancelled():
        log.info("client disconnected: scoring of its request cancelled")
        return None
    return task.result()


async def _disconnect(request: Request) -> None:
    """Returns when the client has gone: the body is read, so the next ASGI message can only be the disconnect."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _limit_problems(i: int, sample: Sample, wanted: set[str], settings: Settings, budget: Budget) -> list[dict]:
    """Size limits, the sample's work budget and per-metric requirements, in FastAPI's own 422 error shape."""
    problems = [{"type": p.kind, "loc": ("body", "samples", i, *p.field), "msg": p.message, "input": None}
                for p in limit_problems(sample, settings, budget)]
    needing = sorted(requiring("retrieved_contexts", wanted))
    if needing and not sample.retrieved_contexts:
        problems.append({"type": "missing", "loc": ("body", "samples", i, "retrieved_contexts"), "input": None,
                         "msg": f"must hold at least one context for {', '.join(needing)}"})
    return problems
