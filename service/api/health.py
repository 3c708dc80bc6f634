"""Liveness and readiness."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..judge_setup import NO_JUDGE

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the judge answers; 503 with the reason otherwise."""
    judge = request.app.state.judge
    if judge is None:
        return JSONResponse({"ready": False, "judge": None, "reason": NO_JUDGE}, status_code=503)
    ok, message = await judge.ready()
    return JSONResponse({"ready": ok, "judge": judge.info.model_dump(), "reason": message},
                        status_code=200 if ok else 503)
