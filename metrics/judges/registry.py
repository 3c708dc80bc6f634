"""Every judge ragmeter ships, declared once: its name, aliases, what it needs, what it is and how it is built.

Settings, `ragmeter compare-judges --judges` and the notebook's `judge=` take these names; results
report the canonical name in `judge.name`. Building imports a judge's modules only when it is asked
for: the embedded judge loads its weights, the ragas engine needs the optional extra.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeGuard

from .config import JudgeConfig
from .protocol import Judge, MetricEngine, Scorer


class UnknownJudge(ValueError):
    """A judge name that is neither a registered judge nor one of their aliases."""


def _no_problem() -> str | None:
    return None


@dataclass(frozen=True)
class JudgeSpec:
    """One judge: what users call it, what it is, and how to build it from a `JudgeConfig`."""

    name: str  # canonical: what results report in `judge.name`
    description: str  # one line, for settings and --help
    protocol: type  # `Judge` (per-judgement: ragmeter's formulas score) or `MetricEngine` (whole metrics)
    build: Callable[[JudgeConfig], Scorer]
    needs_llm: bool = False  # needs an OpenAI-compatible server (OPENAI_API_KEY or OPENAI_BASE_URL)
    aliases: tuple[str, ...] = ()  # other names that select it
    deprecated: tuple[str, ...] = ()  # aliases kept for old configurations; using one logs a warning
    problem: Callable[[], str | None] = _no_problem  # why it cannot be built in this installation, or None

    @property
    def is_engine(self) -> bool:
        return self.protocol is MetricEngine

    @property
    def spellings(self) -> tuple[str, ...]:
        return (self.name, *self.aliases, *self.deprecated)


# ---------------------------------------------------------------- how each judge is built
def _embedded(config: JudgeConfig) -> Judge:
    from .embedded.judge import EmbeddedJudge

    return EmbeddedJudge(claim_cutoff=config.claim_cutoff)


def _remote_options(config: JudgeConfig) -> dict:
    """What the LLM judge and the ragas engine share: model, timeouts, retries, cap, cache, breaker."""
    from .breaker import CircuitBreaker
    from .cache import ReplyCache

    return {
        "model": config.model,
        "embedding_model": config.embedding_model,
        "timeout": config.timeout,
        "max_retries": config.max_retries,
        "concurrency": config.concurrency,
        "cache": ReplyCache(config.cache_size, config.cache_path),
        "n_questions": config.n_questions,
        "breaker": CircuitBreaker(config.breaker_failures, config.breaker_cooldown_s),
    }


def _openai(config: JudgeConfig) -> Judge:
    from .llm import LLMJudge

    return LLMJudge.create(response_format=config.response_format, **_remote_options(config))


def _cascade(config: JudgeConfig) -> Judge:
    from .cascade import Band, CascadeJudge

    return CascadeJudge(_embedded(config), _openai(config), Band(config.band_low, config.band_high),
                        config.decompose_with)


def _ragas(config: JudgeConfig) -> MetricEngine:
    from .ragas_engine import RagasEngine

    return RagasEngine(**_remote_options(config))


def _ragas_problem() -> str | None:
    from .ragas_engine import ragas_problem

    return ragas_problem()


JUDGES: tuple[JudgeSpec, ...] = (
    JudgeSpec("embedded", "the embedded judge: runs in this process, no network, no API key", Judge, _embedded,
              deprecated=("local",)),
    JudgeSpec("openai", "the LLM judge: any OpenAI-compatible chat server", Judge, _openai, needs_llm=True,
              aliases=("ragmeter",)),
    JudgeSpec("cascade", "the embedded judge, escalating its uncertain verdicts to the LLM judge", Judge, _cascade,
              needs_llm=True),
    JudgeSpec("ragas", "ragas' own metrics through the LLM judge's server (the optional extra ragmeter[ragas])",
              MetricEngine, _ragas, needs_llm=True, problem=_ragas_problem),
)
BY_SPELLING: dict[str, JudgeSpec] = {spelling: spec for spec in JUDGES for spelling in spec.spellings}
JUDGE_NAMES: tuple[str, ...] = tuple(spec.name for spec in JUDGES)
# Every name that selects a judge: canonical names first, then aliases.
JUDGE_SPELLINGS: tuple[str, ...] = (*JUDGE_NAMES, *(s for s in BY_SPELLING if s not in JUDGE_NAMES))


def choices() -> str:
    """The names, with their aliases, as a user reads them: "embedded (or local, deprecated), openai (or ...), ..."."""
    def one(spec: JudgeSpec) -> str:
        others = [*spec.aliases, *(f"{d}, deprecated" for d in spec.deprecated)]
        return f"{spec.name} (or {', '.join(others)})" if others else spec.name

    return ", ".join(one(spec) for spec in JUDGES)


def resolve(name: str) -> JudgeSpec:
    """The judge a name or alias selects; `UnknownJudge` names the choices."""
    try:
        return BY_SPELLING[name]
    except (KeyError, TypeError):
        raise UnknownJudge(f"unknown judge {name!r}; choose one of {choices()}") from None


def build(name: str, config: JudgeConfig | None = None) -> Scorer:
    """The named judge, built from `config` (the defaults when None); raises when it cannot be built here."""
    spec = resolve(name)
    if problem := spec.problem():
        raise RuntimeError(problem)
    return spec.build(config or JudgeConfig())


def is_engine(judge: Scorer) -> TypeGuard[MetricEngine]:
    """True when the judge is registered as a whole-metric engine; any other judge is a per-judgement one."""
    spec = BY_SPELLING.get(judge.info.name)
    return spec is not None and spec.is_engine
