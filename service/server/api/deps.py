"""FastAPI dependencies: what the app was started with (settings, judge, batch store and runner)."""
from __future__ import annotations

from fastapi import HTTPException, Request

from ragmeter.metrics.judges import Judge

from ragmeter.service.server.batches.executor import Executor
from ragmeter.service.server.batches.runner import BatchRunner
from ragmeter.service.server.batches.store import AsyncStore
from ragmeter.service.judge_setup import NO_JUDGE
from ragmeter.service.settings import Settings


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_optional_judge(request: Request) -> Judge | None:
    """The judge, or None when the settings ask for an LLM judge that is not configured."""
    return request.app.state.judge


def get_judge(request: Request) -> Judge:
    """The judge; 503 when the settings ask for an LLM judge that is not configured."""
    judge = get_optional_judge(request)
    if judge is None:
        raise HTTPException(status_code=503, detail=NO_JUDGE)
    return judge


def get_store(request: Request) -> AsyncStore:
    return request.app.state.store


def get_runner(request: Request) -> BatchRunner:
    return request.app.state.runner


def get_executor(request: Request) -> Executor:
    return request.app.state.executor


def get_started_runner(request: Request) -> BatchRunner:
    """The runner; 503 when its executor failed to start (a batch would stay queued), rather than a stuck job."""
    executor = get_executor(request)
    if executor.state == "failed":
        raise HTTPException(status_code=503, detail=executor.reason)
    return get_runner(request)
