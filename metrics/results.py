"""The result of scoring one sample. `Scores` and `Details` have one field per registered metric.

They are written out so that type checkers and editors see each metric's field; tests/test_registry.py
checks that they list exactly the registered metrics, in the registry's order.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from .answer_correctness import AnswerCorrectnessDetail
from .answer_relevancy import AnswerRelevancyDetail
from .claim_sets import ShareDetail
from .citation_precision import CitationPrecisionDetail
from .citation_recall import CitationRecallDetail
from .context_precision import ContextPrecisionDetail
from .context_recall import ContextRecallDetail
from .faithfulness import FaithfulnessDetail
from .overall_f1 import OverallF1Detail
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
    answer_correctness: float | None = score_field("answer_correctness")
    overall_precision: float | None = score_field("overall_precision")
    overall_recall: float | None = score_field("overall_recall")
    overall_f1: float | None = score_field("overall_f1")
    claim_recall: float | None = score_field("claim_recall")
    retriever_context_precision: float | None = score_field("retriever_context_precision")
    context_utilization: float | None = score_field("context_utilization")
    noise_sensitivity_relevant: float | None = score_field("noise_sensitivity_relevant")
    noise_sensitivity_irrelevant: float | None = score_field("noise_sensitivity_irrelevant")
    hallucination: float | None = score_field("hallucination")
    self_knowledge: float | None = score_field("self_knowledge")
    citation_recall: float | None = score_field("citation_recall")
    citation_precision: float | None = score_field("citation_precision")


class Details(BaseModel):
    """Each metric's score, the reason it is null, and the evidence behind it."""

    faithfulness: FaithfulnessDetail
    answer_relevancy: AnswerRelevancyDetail
    context_precision: ContextPrecisionDetail
    context_recall: ContextRecallDetail
    semantic_similarity: SemanticSimilarityDetail
    answer_correctness: AnswerCorrectnessDetail
    overall_precision: ShareDetail
    overall_recall: ShareDetail
    overall_f1: OverallF1Detail
    claim_recall: ShareDetail
    retriever_context_precision: ShareDetail
    context_utilization: ShareDetail
    noise_sensitivity_relevant: ShareDetail
    noise_sensitivity_irrelevant: ShareDetail
    hallucination: ShareDetail
    self_knowledge: ShareDetail
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
    diagnosis: list[str] | None = Field(default=None, description="Which part of the pipeline to fix, in plain "
                                        "words, from RAGChecker's metrics; [] when nothing stands out, null when "
                                        "none of them was computed.")

    def error_text(self) -> str | None:
        """The judge errors as one line, or None when there were none."""
        return "; ".join(f"{e.stage}: {e.kind}: {e.message}" for e in self.errors) or None
