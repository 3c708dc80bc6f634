"""Liveness, readiness and Prometheus metrics: what monitoring reads, open without an API key."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragmeter.metrics.judges import Judge

from ragmeter.service.judge_setup import NO_JUDGE
from ragmeter.service.server.api.deps import get_optional_judge

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz",
            responses={503: {"description": "Not ready: no judge, or the judge does not answer; the body says why."}})
async def readyz(judge: Annotated[Judge | None, Depends(get_optional_judge)]) -> JSONResponse:
    """Ready when the judge answers; 503 with the reason otherwise."""
    if judge is None:
        return JSONResponse({"ready": False, "judge": None, "reason": NO_JUDGE}, status_code=503)
    ok, message = await judge.ready()
    return JSONResponse({"ready": ok, "judge": judge.info.model_dump(), "reason": message},
                        status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests and latency per route, judge calls, tokens, errors, gate verdicts, batch rows."""
    return Response(generate_latest(request.app.state.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
