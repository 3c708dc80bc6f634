"""A metric's value: a float in [0, 1], or null with a machine-readable reason. Never NaN."""
from __future__ import annotations

import math

from pydantic import BaseModel, model_validator

# The reasons a score can be null.
NOT_REQUESTED = "not_requested"
NEEDS_REFERENCE = "needs_reference"
NEEDS_CONTEXTS = "needs_contexts"
NO_CLAIMS = "no_claims"
NO_STATEMENTS = "no_statements"
JUDGE_ERROR = "judge_error"


class MetricScore(BaseModel):
    value: float | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _value_or_reason(self) -> "MetricScore":
        if self.value is None:
            if not self.reason:
                raise ValueError("a null score needs a reason")
        elif math.isnan(self.value) or not 0.0 <= self.value <= 1.0:
            raise ValueError(f"score {self.value!r} is outside [0, 1]")
        return self

    @classmethod
    def of(cls, value: float) -> "MetricScore":
        """A score, clipped into [0, 1] against float round-off."""
        return cls(value=min(1.0, max(0.0, float(value))))

    @classmethod
    def null(cls, reason: str) -> "MetricScore":
        return cls(value=None, reason=reason)
