"""What each metric is and which sample fields it reads; the definitions are the metric modules' docstrings."""
from __future__ import annotations

import inspect

from pydantic import BaseModel

from . import answer_relevancy, context_precision, context_recall, faithfulness
from . import scores as r


class MetricInfo(BaseModel):
    name: str
    definition: str
    required_fields: list[str]
    optional_fields: list[str]
    null_reasons: list[str]


def _info(module, required: list[str], optional: list[str], nulls: list[str]) -> MetricInfo:
    return MetricInfo(name=module.__name__.rsplit(".", 1)[-1], definition=inspect.getdoc(module) or "",
                      required_fields=required, optional_fields=optional, null_reasons=nulls)


CATALOG: list[MetricInfo] = [
    _info(faithfulness, ["user_input", "retrieved_contexts", "response"], [],
          [r.NO_CLAIMS, r.NEEDS_CONTEXTS, r.JUDGE_ERROR, r.NOT_REQUESTED]),
    _info(answer_relevancy, ["user_input", "response"], [], [r.JUDGE_ERROR, r.NOT_REQUESTED]),
    _info(context_precision, ["user_input", "retrieved_contexts", "response"], ["reference"],
          [r.NEEDS_CONTEXTS, r.JUDGE_ERROR, r.NOT_REQUESTED]),
    _info(context_recall, ["user_input", "retrieved_contexts", "reference"], ["response"],
          [r.NEEDS_REFERENCE, r.NO_STATEMENTS, r.NEEDS_CONTEXTS, r.JUDGE_ERROR, r.NOT_REQUESTED]),
]
