"""FastAPI dependencies: the settings and the judge the app was started with."""
from __future__ import annotations

from fastapi import HTTPException, Request

from metrics.judges.base import Judge

from .judges import NO_JUDGE
from .settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_judge(request: Request) -> Judge:
    judge = request.app.state.judge
    if judge is None:
        raise HTTPException(status_code=503, detail=NO_JUDGE)
    return judge
