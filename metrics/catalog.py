"""What each metric is and which sample fields it reads, derived from the registry."""
from __future__ import annotations

from pydantic import BaseModel

from .registry import METRICS


class MetricInfo(BaseModel):
    name: str
    definition: str
    required_fields: list[str]
    optional_fields: list[str]
    null_reasons: list[str]
    default: bool = True


CATALOG: list[MetricInfo] = [
    MetricInfo(name=m.name, definition=m.definition, required_fields=list(m.required_fields),
               optional_fields=list(m.optional_fields), null_reasons=m.all_null_reasons(), default=m.default)
    for m in METRICS
]
