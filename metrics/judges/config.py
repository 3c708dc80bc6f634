"""What building a judge takes: one plain dataclass, so the library builds judges without the service's settings."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal


def llm_configured() -> bool:
    """True when the openai SDK's own env vars point at an LLM judge."""
    return bool(os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))


@dataclass(frozen=True)
class JudgeConfig:
    """Every judge's options; each judge reads the ones it uses. The defaults are the service's."""

    # The LLM judge and the ragas engine (an OpenAI-compatible server: OPENAI_API_KEY / OPENAI_BASE_URL).
    model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    timeout: float = 60.0
    max_retries: int = 4
    concurrency: int = 16  # judge calls in flight
    response_format: Literal["json_schema", "json_object", "none"] = "json_schema"
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    cache_size: int = 10_000
    cache_path: str | None = None
    n_questions: int = 3  # answer relevancy: questions generated per answer
    # The embedded judge: the support probability from which a claim counts as supported (None: the weights' own).
    claim_cutoff: float | None = None
    # The cascade: the uncertain band of embedded support probabilities, and who decomposes.
    band_low: float = 0.6
    band_high: float = 0.95
    decompose_with: Literal["embedded", "llm"] = "embedded"
