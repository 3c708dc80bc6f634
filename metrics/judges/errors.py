"""How a failed call to an OpenAI-compatible server is reported: a JudgeError with a machine-readable kind."""
from __future__ import annotations

import openai

from ..judgements import JudgeError


def short(problem: Exception, limit: int = 400) -> str:
    text = str(problem).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def judge_error(stage: str, exc: openai.OpenAIError) -> JudgeError:
    if isinstance(exc, openai.APITimeoutError):
        return JudgeError(stage, "timeout", "the judge did not answer in time, after retries")
    if isinstance(exc, openai.APIConnectionError):
        return JudgeError(stage, "unreachable", f"cannot reach the judge: {exc}")
    if isinstance(exc, openai.RateLimitError):
        return JudgeError(stage, "rate_limited", "the judge kept answering 429 after retries")
    if isinstance(exc, openai.AuthenticationError):
        return JudgeError(stage, "auth", "the judge refused the API key (401)")
    if isinstance(exc, openai.APIStatusError):
        return JudgeError(stage, f"http_{exc.status_code}", short(exc, 300))
    return JudgeError(stage, "judge_failed", short(exc, 300))
