"""The two protocols a judge speaks, so the metrics, the gate and the details are written once.

A `Judge` returns judgements (decompositions, verdicts, relevance, embeddings) that ragmeter's formulas
turn into scores; a `MetricEngine` computes whole metrics itself (ragas). Which one a registered judge
is comes from its declaration in `registry.py`.
"""
from __future__ import annotations

from typing import Protocol

from ..judgements import Comparison, Decomposition, ErrorInfo, JudgeInfo, Needs, Relevance, Usage, Verification
from ..metric_score import MetricScore
from ..sample import Sample


class Judge(Protocol):
    """Per sample: decompose (no contexts), then verify against the contexts and rate relevance; plus embeddings.

    Each method adds its cost to `usage` and raises `JudgeError` when it cannot answer.
    """

    info: JudgeInfo
    # The hallucination threshold this judge's scores are calibrated for.
    default_threshold: float
    # Optional (read with getattr): the most characters of one sample (question, answer, reference and contexts
    # together) the judge takes; the service refuses larger samples before scoring them.
    # max_sample_chars: int

    async def decompose(self, sample: Sample, need: Needs, usage: Usage) -> Decomposition: ...

    async def verify(self, sample: Sample, parts: Decomposition, need: Needs, usage: Usage) -> Verification: ...

    async def relevance(self, sample: Sample, parts: Decomposition, usage: Usage) -> Relevance: ...

    async def compare(self, sample: Sample, parts: Decomposition, usage: Usage) -> Comparison:
        """The answer's claims against the reference and the reference's statements against the answer."""
        ...

    async def embed(self, texts: list[str], usage: Usage) -> list[list[float]]: ...

    def unavailable_for(self) -> float:
        """Seconds until the judge takes calls again (a remote judge's circuit breaker is open); 0 when it does."""
        ...

    async def ready(self) -> tuple[bool, str]: ...

    async def aclose(self) -> None: ...


class MetricEngine(Protocol):
    """Per sample: each named metric's detail, computed by the engine's own implementation.

    A metric that fails is null with `judge_error` and its error appended to `errors`; cost goes to `usage`.
    """

    info: JudgeInfo
    default_threshold: float

    async def score_metrics(self, sample: Sample, names: list[str], usage: Usage,
                            errors: list[ErrorInfo]) -> dict[str, MetricScore]: ...

    def unavailable_for(self) -> float: ...

    async def ready(self) -> tuple[bool, str]: ...

    async def aclose(self) -> None: ...


# What scores a sample: either kind.
Scorer = Judge | MetricEngine
