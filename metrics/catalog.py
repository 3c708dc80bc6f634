"""What each metric is and which sample fields it reads, derived from the registry."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .registry import METRICS


class MetricInfo(BaseModel):
    name: str
    definition: str
    required_fields: list[str]
    optional_fields: list[str]
    null_reasons: list[str]
    default: bool = True
    better: Literal["higher", "lower"] = Field("higher", description="Which way is good: \"lower\" for rates "
                                                 "of something bad (hallucination).")


CATALOG: list[MetricInfo] = [
    MetricInfo(name=m.name, definition=m.definition, required_fields=list(m.required_fields),
               optional_fields=list(m.optional_fields), null_reasons=m.all_null_reasons(), default=m.default,
               better=m.better)
    for m in METRICS
]
