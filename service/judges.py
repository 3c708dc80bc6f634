"""Picks and builds the judge the service scores with, from its settings."""
from __future__ import annotations

import os

from metrics.judges.base import Judge
from metrics.judges.cache import ReplyCache
from metrics.judges.llm import LLMJudge

from .settings import Settings

NO_JUDGE = ("no judge configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for a server other than "
            "OpenAI's) to score with an LLM judge")


def llm_configured() -> bool:
    """True when the openai SDK's own env vars point at a judge."""
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def build_judge(settings: Settings) -> Judge | None:
    """The configured judge, or None when there is nothing to score with."""
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
        default_threshold=settings.hallucination_threshold if settings.hallucination_threshold is not None else 0.2,
    )
