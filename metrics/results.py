"""The result of scoring one sample. `Scores` and `Details` have one field per registered metric.

They are written out so that type checkers and editors see each metric's field; tests/test_registry.py
checks that they list exactly the registered metrics, in the registry's order.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .answer_relevancy import AnswerRelevancyDetail
from .citation_precision import CitationPrecisionDetail
from .citation_recall import CitationRecallDetail
from .context_precision import ContextPrecisionDetail
from .context_recall import ContextRecallDetail
from .faithfulness import FaithfulnessDetail
from .gate import GateResult
from .judgements import ErrorInfo, JudgeInfo, Usage
from .registry import BY_NAME
from .semantic_similarity import SemanticSimilarityDetail


def score_field(name: str) -> Any:
    """A metric's score field: null by default, described by the first line of the metric's definition."""
    return Field(default=None, description=BY_NAME[name].definition.split("\n", 1)[0])


class Scores(BaseModel):
    """Each metric's score: a float in [0, 1], or null (its detail says why)."""

    faithfulness: float | None = score_field("faithfulness")
    answer_relevancy: float | None = score_field("answer_relevancy")
    context_precision: float | None = score_field("context_precision")
    context_recall: float | None = score_field("context_recall")
    semantic_similarity: float | None = score_field("semantic_similarity")
    citation_recall: float | None = score_field("citation_recall")
    citation_precision: float | None = score_field("citation_precision")


class Details(BaseModel):
    """Each metric's score, the reason it is null, and the evidence behind it."""

    faithfulness: FaithfulnessDetail
    answer_relevancy: AnswerRelevancyDetail
    context_precision: ContextPrecisionDetail
    context_recall: ContextRecallDetail
    semantic_similarity: SemanticSimilarityDetail
    citation_recall: CitationRecallDetail
    citation_precision: CitationPrecisionDetail


class SampleResult(BaseModel):
    id: str | int | None = None
    scores: Scores
    gate: GateResult
    details: Details
    judge: JudgeInfo
    usage: Usage
    errors: list[ErrorInfo] = []
    metadata: dict[str, Any] = Field(default_factory=dict, description="The sample's own fields, echoed back.")

    def error_text(self) -> str | None:
        """The judge errors as one line, or None when there were none."""
        return "; ".join(f"{e.stage}: {e.kind}: {e.message}" for e in self.errors) or None
