"""Liveness, readiness and Prometheus metrics: what monitoring reads, open without an API key (/metrics: unless
RAGMETER_METRICS_KEY is set)."""
from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragmeter.metrics.judges import Judge

from ragmeter.service.judge_setup import NO_JUDGE
from ragmeter.service.server.api.deps import get_executor, get_optional_judge
from ragmeter.service.server.batches.executor import Executor
from ragmeter.service.server.tenancy import presented_key

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


NOT_READY = ("Not ready: no judge, the judge does not answer, or the batch executor (worker processes or Ray) is "
             "still starting or failed to start; the body says why.")


@router.get("/readyz", responses={503: {"description": NOT_READY}})
async def readyz(judge: Annotated[Judge | None, Depends(get_optional_judge)],
                 executor: Annotated[Executor, Depends(get_executor)]) -> JSONResponse:
    """Ready when the judge answers and batch rows can be scored; 503 with the reason otherwise."""
    message: str | None
    if judge is None:
        ok, info, message = False, None, NO_JUDGE
    else:
        ok, message = await judge.ready()
        info = judge.info.model_dump()
    if ok and executor.state != "ready":
        ok, message = False, executor.reason
    return JSONResponse({"ready": ok, "judge": info, "reason": message, "executor": executor.status()},
                        status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus metrics: requests and latency per route, judge calls, tokens, errors, gate verdicts, batch rows,
    and per-app production record figures. With RAGMETER_METRICS_KEY set, only for that bearer token."""
    wanted = request.app.state.settings.metrics_key
    if wanted is not None:
        # The per-tenant series name every tenant and app: a shared deployment keeps them to its scraper.
        given = presented_key(request) or ""
        if not hmac.compare_digest(given.encode(), wanted.encode()):
            return JSONResponse({"detail": "/metrics needs RAGMETER_METRICS_KEY: Authorization: Bearer <key>"},
                                status_code=401, headers={"WWW-Authenticate": "Bearer"})
    # In a thread: the production record gauges are read from the database at scrape time.
    body = await asyncio.to_thread(generate_latest, request.app.state.telemetry.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
