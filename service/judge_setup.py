"""Which judge the service's settings ask for, built through the judge registry, with the service's messages."""
from __future__ import annotations

import logging

from ragmeter.metrics.judges import Scorer
from ragmeter.metrics.judges.config import JudgeConfig, llm_configured
from ragmeter.metrics.judges.registry import JUDGES, JudgeSpec, choices, resolve

from ragmeter.service.settings import JUDGE_CHOICES, Settings

AUTO = "auto"  # the LLM judge when OPENAI_* is set, else the embedded one
_LLM_JUDGES = [spec.name for spec in JUDGES if spec.needs_llm]
NO_JUDGE = (f"RAGMETER_JUDGE={_LLM_JUDGES[0]} (or {', or '.join(_LLM_JUDGES[1:])}) but no LLM judge is configured: "
            "set OPENAI_API_KEY (and OPENAI_BASE_URL for a server other than OpenAI's), or use "
            "RAGMETER_JUDGE=embedded (the embedded judge)")
__all__ = ["AUTO", "JUDGE_CHOICES", "NO_JUDGE", "build_judge", "judge_choices", "judge_config", "judge_kind",
           "judge_problem", "judge_spec", "llm_configured"]
log = logging.getLogger("ragmeter.judge")
_warned: set[str] = set()  # deprecated names already warned about in this process


def judge_choices() -> str:
    """The judge names a user may give, as one line: auto, then each judge with its aliases."""
    return f"{AUTO}, {choices()}"


def judge_spec(settings: Settings) -> JudgeSpec:
    """The registered judge the settings select: auto means openai when the OPENAI_* variables are set, else embedded.

    A deprecated name still selects its judge, with a warning logged once per process.
    """
    if settings.judge == AUTO:
        return resolve("openai" if llm_configured() else "embedded")
    spec = resolve(settings.judge)
    if settings.judge in spec.deprecated and settings.judge not in _warned:
        _warned.add(settings.judge)
        log.warning("judge name %r is deprecated: it selects the %s judge, now called %r (what results report in "
                    "`judge.name`); use RAGMETER_JUDGE=%s (or judge=%r)", settings.judge, spec.name, spec.name,
                    spec.name, spec.name)
    return spec


def judge_kind(settings: Settings) -> str:
    """The canonical name of the judge the settings select: `embedded`, `openai`, `cascade` or `ragas`."""
    return judge_spec(settings).name


def judge_problem(settings: Settings) -> str | None:
    """Why the configured judge cannot be built in this installation (a missing extra), or None."""
    return judge_spec(settings).problem()


def judge_config(settings: Settings) -> JudgeConfig:
    """The registry's config from the service's settings."""
    return JudgeConfig(
        model=settings.judge_model, embedding_model=settings.embedding_model, timeout=settings.judge_timeout,
        max_retries=settings.judge_max_retries, concurrency=settings.judge_concurrency,
        response_format=settings.judge_response_format, breaker_failures=settings.judge_breaker_failures,
        breaker_cooldown_s=settings.judge_breaker_cooldown_s, cache_size=settings.cache_size,
        cache_path=settings.cache_path, n_questions=settings.answer_relevancy_questions,
        claim_cutoff=settings.embedded_claim_cutoff, band_low=settings.cascade_band_low,
        band_high=settings.cascade_band_high, decompose_with=settings.cascade_decompose)


def build_judge(settings: Settings) -> Scorer | None:
    """The configured judge, or None when a judge that needs an LLM is asked for but none is configured."""
    spec = judge_spec(settings)
    if spec.needs_llm and not llm_configured():
        return None
    if problem := spec.problem():
        raise RuntimeError(problem)
    return spec.build(judge_config(settings))
