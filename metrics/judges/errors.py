"""How a failed call to an OpenAI-compatible server is reported: a JudgeError with a machine-readable kind."""
from __future__ import annotations

import openai

from ..judgements import JudgeError


def short(problem: BaseException, limit: int = 400) -> str:
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


async def server_problem(client: openai.AsyncOpenAI, breaker) -> str | None:
    """Why an OpenAI-compatible judge server cannot take calls now (breaker open, unreachable), or None."""
    if breaker.open_for() > 0:
        return f"circuit open: {breaker.last_error}; calls resume in {breaker.open_for():.0f} s"
    try:
        await client.models.list(timeout=5.0)
    except openai.NotFoundError:
        pass  # some compatible servers have no /models; it answered, so it is reachable
    except openai.OpenAIError as exc:
        return judge_error("ready", exc).info.message
    return None
