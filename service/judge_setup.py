"""Picks and builds the judge the service scores with, from its settings."""
from __future__ import annotations

import os

from ragmeter.metrics.judges import Judge
from ragmeter.metrics.judges.breaker import CircuitBreaker
from ragmeter.metrics.judges.cache import ReplyCache
from ragmeter.metrics.judges.llm import LLMJudge

from ragmeter.service.settings import Settings

NO_JUDGE = ("RAGMETER_JUDGE=openai (or cascade, or ragas) but no LLM judge is configured: set OPENAI_API_KEY (and "
            "OPENAI_BASE_URL for a server other than OpenAI's), or use RAGMETER_JUDGE=local (the embedded judge)")
# RAGMETER_JUDGE values that mean the embedded judge ("local" is the original name).
EMBEDDED = ("local", "embedded")


def llm_configured() -> bool:
    """True when the openai SDK's own env vars point at a judge."""
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


def judge_kind(settings: Settings) -> str:
    """`embedded`, `openai`, `cascade` or `ragas`: auto is openai when the OPENAI_* variables are set, else embedded."""
    if settings.judge == "auto":
        return "openai" if llm_configured() else "embedded"
    return "embedded" if settings.judge in EMBEDDED else settings.judge


def judge_problem(settings: Settings) -> str | None:
    """Why the configured judge cannot be built in this installation (a missing extra), or None."""
    if judge_kind(settings) == "ragas":
        from ragmeter.metrics.judges.ragas_engine import ragas_problem

        return ragas_problem()
    return None


def build_judge(settings: Settings) -> Judge | None:
    """The configured judge, or None when a judge that needs an LLM is asked for but none is configured."""
    kind = judge_kind(settings)
    if kind == "embedded":
        return _embedded(settings)
    if not llm_configured():
        return None
    if kind == "ragas":
        if problem := judge_problem(settings):
            raise RuntimeError(problem)
        from ragmeter.metrics.judges.ragas_engine import RagasEngine

        return RagasEngine(**_remote_options(settings))  # type: ignore[return-value]
    llm = LLMJudge.create(response_format=settings.judge_response_format, **_remote_options(settings))
    if kind == "cascade":
        from ragmeter.metrics.judges.cascade import Band, CascadeJudge

        return CascadeJudge(_embedded(settings), llm, Band(settings.cascade_band_low, settings.cascade_band_high),
                            settings.cascade_decompose)
    return llm


def _embedded(settings: Settings) -> Judge:
    from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

    return EmbeddedJudge(claim_cutoff=settings.embedded_claim_cutoff)


def _remote_options(settings: Settings) -> dict:
    """What the LLM judge and the ragas engine share: model, timeouts, retries, cap, cache, breaker."""
    return {
        "model": settings.judge_model,
        "embedding_model": settings.embedding_model,
        "timeout": settings.judge_timeout,
        "max_retries": settings.judge_max_retries,
        "concurrency": settings.judge_concurrency,
        "cache": ReplyCache(settings.cache_size, settings.cache_path),
        "n_questions": settings.answer_relevancy_questions,
        "breaker": CircuitBreaker(settings.judge_breaker_failures, settings.judge_breaker_cooldown_s),
    }
