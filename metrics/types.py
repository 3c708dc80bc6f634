"""The shapes that flow through scoring: a sample in, judge outputs, a result out."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

MetricName = Literal["faithfulness", "answer_relevancy", "context_precision", "context_recall"]
METRIC_NAMES: tuple[str, ...] = ("faithfulness", "answer_relevancy", "context_precision", "context_recall")

# Metrics that read the retrieved contexts; the others can score without them.
NEEDS_CONTEXTS = frozenset({"faithfulness", "context_precision", "context_recall"})


class Sample(BaseModel):
    """One question / contexts / answer triple, under the Ragas or the classic field names."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=False)

    id: str | int | None = Field(default=None, description="Your identifier, echoed back in the result.")
    user_input: str = Field(
        validation_alias=AliasChoices("user_input", "question"),
        description="The question asked (alias: question).",
    )
    retrieved_contexts: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("retrieved_contexts", "contexts"),
        description="Retrieved passages, in retrieval order (alias: contexts).",
    )
    response: str = Field(
        validation_alias=AliasChoices("response", "answer"),
        description="The answer to score (alias: answer).",
    )
    reference: str | None = Field(
        default=None,
        validation_alias=AliasChoices("reference", "ground_truth"),
        description="A reference answer (alias: ground_truth); context_recall needs it.",
    )

    @field_validator("user_input", "response")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("retrieved_contexts", mode="before")
    @classmethod
    def _contexts_are_strings(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("must be a list of strings, not a single string")
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise ValueError(f"item {i} is {type(item).__name__}, not a string")
                if not item.strip():
                    raise ValueError(f"item {i} is empty")
        return value

    @field_validator("reference")
    @classmethod
    def _blank_reference_is_none(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None


@dataclass(frozen=True)
class Needs:
    """Which judge outputs the requested metrics need, so no call asks for more."""

    claims: bool = False
    questions: bool = False
    statements: bool = False
    context_verdicts: bool = False

    @classmethod
    def for_metrics(cls, metrics: frozenset[str] | set[str], sample: Sample) -> "Needs":
        return cls(
            claims="faithfulness" in metrics,
            questions="answer_relevancy" in metrics,
            statements="context_recall" in metrics and sample.reference is not None,
            context_verdicts="context_precision" in metrics and bool(sample.retrieved_contexts),
        )

    @property
    def decompose(self) -> bool:
        return self.claims or self.questions or self.statements

    @property
    def verify(self) -> bool:
        return self.claims or self.statements or self.context_verdicts


# ---------------------------------------------------------------- judge outputs
Verdict = Literal["supported", "unsupported", "contradicted"]


class RelevanceEstimate(BaseModel):
    """A judge's direct answer-relevancy estimate, for judges that generate no questions."""

    score: float = Field(ge=0.0, le=1.0)
    signals: dict[str, float] = {}


class Decomposition(BaseModel):
    """What the judge reads from the answer and reference alone, before seeing any context."""

    claims: list[str] = []
    questions: list[str] = []
    noncommittal: bool = False
    statements: list[str] = []
    relevance: RelevanceEstimate | None = None


class ClaimVerdict(BaseModel):
    claim: str
    verdict: Verdict
    reason: str = ""
    evidence: str = ""
    context_index: int | None = Field(default=None, description="0-based index of the context quoted.")
    probability: float | None = Field(default=None, description="P(supported), for judges that estimate it.")


class StatementVerdict(BaseModel):
    statement: str
    attributable: bool
    reason: str = ""
    evidence: str = ""
    context_index: int | None = None
    probability: float | None = None


class ContextVerdict(BaseModel):
    index: int
    useful: bool
    reason: str = ""
    probability: float | None = None


class Verification(BaseModel):
    """The judge's verdicts once it has read the contexts."""

    claims: list[ClaimVerdict] = []
    statements: list[StatementVerdict] = []
    contexts: list[ContextVerdict] = []


# ---------------------------------------------------------------- accounting
class Usage(BaseModel):
    """Judge cost of one sample."""

    chat_calls: int = 0
    cached_calls: int = 0
    embedding_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0

    def add(self, other: "Usage") -> None:
        for name in Usage.model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class ErrorInfo(BaseModel):
    """A failure that made some score null; `kind` is machine-readable."""

    stage: str
    kind: str
    message: str


class JudgeError(Exception):
    """A judge call that failed after retries and the repair attempt."""

    def __init__(self, stage: str, kind: str, message: str):
        super().__init__(f"{stage}: {kind}: {message}")
        self.info = ErrorInfo(stage=stage, kind=kind, message=message)


class JudgeInfo(BaseModel):
    name: str
    model: str | None = None
    embedding_model: str | None = None
