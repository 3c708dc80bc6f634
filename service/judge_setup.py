"""Picks and builds the judge the service scores with, from its settings."""
from __future__ import annotations

import os

from ragmeter.metrics.judges import Judge
from ragmeter.metrics.judges.breaker import CircuitBreaker
from ragmeter.metrics.judges.cache import ReplyCache
from ragmeter.metrics.judges.llm import LLMJudge

from .settings import Settings

NO_JUDGE = ("RAGMETER_JUDGE=openai but no LLM judge is configured: set OPENAI_API_KEY (and OPENAI_BASE_URL "
            "for a server other than OpenAI's), or use RAGMETER_JUDGE=local (the embedded judge)")
# RAGMETER_JUDGE values that mean the embedded judge ("local" is the original name).
EMBEDDED = ("local", "embedded")


def llm_configured() -> bool:
    """True when the openai SDK's own env vars point at a judge."""
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def judge_kind(settings: Settings) -> str:
    """`embedded` or `openai`: auto means openai when the OPENAI_* variables are set, embedded otherwise."""
    if settings.judge == "auto":
        return "openai" if llm_configured() else "embedded"
    return "embedded" if settings.judge in EMBEDDED else settings.judge


def build_judge(settings: Settings) -> Judge | None:
    """The configured judge, or None when the LLM judge is asked for but not configured."""
    if judge_kind(settings) == "embedded":
        from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

        return EmbeddedJudge()
    if not llm_configured():
        return None
    return LLMJudge.create(
        model=settings.judge_model,
        embedding_model=settings.embedding_model,
        timeout=settings.judge_timeout,
        max_retries=settings.judge_max_retries,
        concurrency=settings.judge_concurrency,
        cache=ReplyCache(settings.cache_size, settings.cache_path),
        n_questions=settings.answer_relevancy_questions,
        response_format=settings.judge_response_format,
        breaker=CircuitBreaker(settings.judge_breaker_failures, settings.judge_breaker_cooldown_s),
    )
