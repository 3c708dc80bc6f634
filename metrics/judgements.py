"""What a judge returns, in one shape for every judge: decompositions, verdicts, relevance, cost.

`Needs` says which judgements a request needs, so no judge call asks for more than the
requested metrics read.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Literal

from pydantic import BaseModel, Field, model_serializer


@dataclass(frozen=True)
class Needs:
    """Which judgements the requested metrics read."""

    claims: bool = False            # the answer's claims, each verified against the contexts
    relevance: bool = False         # how well the answer addresses the question
    statements: bool = False        # the reference's statements, each attributed to the contexts
    context_verdicts: bool = False  # each context judged useful or not
    # Every context that supports each claim and statement (ClaimVerdict.contexts), not only the best one:
    # RAGChecker's retriever and generator metrics and the citation checks read which chunk holds what.
    chunk_support: bool = False
    # The answer's claims checked against the reference, and the reference's statements against the answer
    # (`Comparison`): answer correctness and RAGChecker's precision and recall. One judge call more.
    correctness: bool = False

    @classmethod
    def union(cls, needs: Iterable[Needs]) -> Needs:
        needs = list(needs)
        return cls(**{f.name: any(getattr(n, f.name) for n in needs) for f in fields(cls)})

    @property
    def decompose(self) -> bool:
        return self.claims or self.relevance or self.statements or self.correctness

    @property
    def verify(self) -> bool:
        return self.claims or self.statements or self.context_verdicts or self.chunk_support


Verdict = Literal["supported", "unsupported", "contradicted"]


class Decomposition(BaseModel):
    """What the judge reads from the answer and reference alone, before seeing any context."""

    claims: list[str] = []
    questions: list[str] = Field(default=[], description="Questions the answer would answer (judges that write them).")
    noncommittal: bool = False
    statements: list[str] = []


class ClaimVerdict(BaseModel):
    claim: str
    verdict: Verdict
    reason: str = ""
    evidence: str = ""
    context_index: int | None = Field(default=None, description="0-based index of the context quoted.")
    probability: float | None = Field(default=None, description="P(supported), for judges that estimate it.")
    abstained: str | None = Field(default=None, description="Why the judge could not judge this claim "
                                  "(a null reason, e.g. unsupported_language); its verdict then counts for nothing.")
    judged_by: str | None = Field(default=None, description="Which judge decided this verdict (the cascade's).")
    contexts: list[int] | None = Field(default=None, description="0-based indices of every context that supports "
                                       "the claim; null when per-chunk support was not asked for.")
    span: list[int] | None = Field(default=None, description="[start, end) character offsets of the claim in the "
                                   "response (the closest span when the claim rewords it); null when not found.")


class StatementVerdict(BaseModel):
    statement: str
    attributable: bool
    reason: str = ""
    evidence: str = ""
    context_index: int | None = None
    probability: float | None = None
    abstained: str | None = Field(default=None, description="Why the judge could not judge this statement.")
    judged_by: str | None = None
    contexts: list[int] | None = Field(default=None, description="0-based indices of every context that supports "
                                       "the statement; null when per-chunk support was not asked for.")


class ContextVerdict(BaseModel):
    index: int
    useful: bool
    reason: str = ""
    probability: float | None = None
    judged_by: str | None = None


class Verification(BaseModel):
    """The judge's verdicts once it has read the contexts."""

    claims: list[ClaimVerdict] = []
    statements: list[StatementVerdict] = []
    contexts: list[ContextVerdict] = []


class EntailmentVerdict(BaseModel):
    """Whether one text's item is stated or implied by another text (an answer claim by the reference, or a
    reference statement by the answer)."""

    text: str
    entailed: bool
    reason: str = ""
    evidence: str = ""
    probability: float | None = Field(default=None, description="P(entailed), for judges that estimate it.")
    abstained: str | None = Field(default=None, description="Why the judge could not judge this item.")
    judged_by: str | None = None


class Comparison(BaseModel):
    """The answer and the reference read against each other, without the contexts."""

    claims: list[EntailmentVerdict] = Field(default=[], description="Each answer claim: does the reference state "
                                            "it? In the order of Decomposition.claims.")
    statements: list[EntailmentVerdict] = Field(default=[], description="Each reference statement: does the "
                                                "answer state it? In the order of Decomposition.statements.")


class GeneratedQuestion(BaseModel):
    question: str
    similarity: float | None = None


class Relevance(BaseModel):
    """How well the answer addresses the question, as the judge measured it.

    A judge either writes questions the answer would answer and gives each one's similarity to
    the question asked (the Ragas way), or estimates relevance directly from its own signals.
    """

    noncommittal: bool = False
    questions: list[GeneratedQuestion] = []
    estimate: float | None = Field(default=None,
                                   description="A direct estimate in [0, 1], for judges that write no questions.")
    signals: dict[str, float] = Field(default={}, description="What a direct estimate is made of.")


# ---------------------------------------------------------------- accounting
class Usage(BaseModel):
    """Judge cost of one sample."""

    chat_calls: int = 0
    cached_calls: int = 0
    embedding_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    embedding_tokens: int = 0
    # The cascade judge's items sent on to its LLM judge; 0 for every other judge.
    escalated_claims: int = 0
    escalated_statements: int = 0
    escalated_contexts: int = 0
    # Answer claims and reference statements whose comparison (Judge.compare) the cascade sent on.
    escalated_comparisons: int = 0

    def add(self, other: Usage) -> None:
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
    version: str | None = Field(default=None, description="The scoring library's version, for engines such as ragas.")

    @model_serializer(mode="wrap")
    def _version_only_when_known(self, handler):
        # Judges without a library version keep the shape they always had.
        data = handler(self)
        if data.get("version") is None:
            data.pop("version", None)
        return data
