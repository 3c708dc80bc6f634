"""A metric's value: a float in [0, 1], or null with a machine-readable reason. Never NaN."""
from __future__ import annotations

import math
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

# Why a score can be null. Every metric can be null for the first four; the others are per metric.
NOT_REQUESTED = "not_requested"
JUDGE_ERROR = "judge_error"
INVALID_VALUE = "invalid_value"  # the computation produced NaN or an infinity
# The scoring engine asked for (ragas) has no implementation of this metric.
NOT_IN_ENGINE = "not_in_engine"
NEEDS_CONTEXTS = "needs_contexts"
NEEDS_REFERENCE = "needs_reference"
NO_CLAIMS = "no_claims"
NO_STATEMENTS = "no_statements"
NO_CITATIONS = "no_citations"  # the answer has no citation markers: the citation checks have nothing to check
# The judge cannot read the claims' language (the embedded judge reads English): it abstains.
UNSUPPORTED_LANGUAGE = "unsupported_language"

# A required sample field that is missing or empty nulls the score with this reason.
NEEDS_FIELD = {"retrieved_contexts": NEEDS_CONTEXTS, "reference": NEEDS_REFERENCE}


class MetricScore(BaseModel):
    """A score with the reason it is null; each metric's detail model extends it with its evidence."""

    score: float | None = None
    reason: str | None = Field(default=None, description="Why the score is null, when it is.")

    @model_validator(mode="after")
    def _score_or_reason(self) -> Self:
        if self.score is None:
            if not self.reason:
                raise ValueError("a null score needs a reason")
        elif not math.isfinite(self.score) or not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score {self.score!r} is outside [0, 1]")
        return self

    @classmethod
    def of(cls, value: float, **evidence: Any) -> Self:
        """A score clipped into [0, 1]; NaN or an infinity is null with `invalid_value`."""
        value = float(value)
        if not math.isfinite(value):
            return cls(score=None, reason=INVALID_VALUE, **evidence)
        return cls(score=min(1.0, max(0.0, value)), **evidence)

    @classmethod
    def null(cls, reason: str, **evidence: Any) -> Self:
        return cls(score=None, reason=reason, **evidence)


def abstention(reasons) -> str | None:
    """The first reason a judge gave for not judging a verdict the score depends on, if any.

    A verdict the judge abstained on could go either way, so a share computed with it would be a guess.
    """
    return next((r for r in reasons if r), None)
