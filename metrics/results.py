"""The result of scoring one sample. `Scores` and `Details` have one field per registered metric."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, create_model

from .gate import GateResult
from .judgements import ErrorInfo, JudgeInfo, Usage
from .registry import METRICS


def _summary(definition: str) -> str:
    return definition.split("\n", 1)[0]


Scores = create_model(
    "Scores", __doc__="Each metric's score: a float in [0, 1], or null (its detail says why).",
    **{m.name: (float | None, Field(default=None, description=_summary(m.definition))) for m in METRICS})

Details = create_model(
    "Details", __doc__="Each metric's score, the reason it is null, and the evidence behind it.",
    **{m.name: (m.detail, ...) for m in METRICS})


class SampleResult(BaseModel):
    id: str | int | None = None
    scores: Scores  # type: ignore[valid-type]
    gate: GateResult
    details: Details  # type: ignore[valid-type]
    judge: JudgeInfo
    usage: Usage
    errors: list[ErrorInfo] = []
    metadata: dict[str, Any] = Field(default_factory=dict, description="The sample's own fields, echoed back.")

    def error_text(self) -> str | None:
        """The judge errors as one line, or None when there were none."""
        return "; ".join(f"{e.stage}: {e.kind}: {e.message}" for e in self.errors) or None
