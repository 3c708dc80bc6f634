"""Every metric ragmeter computes: one line per metric module, in the order results list them."""
from __future__ import annotations

from importlib import import_module
from typing import Literal

from .metric import Metric

METRIC_MODULES = (
    "faithfulness",
    "answer_relevancy",
    "context_precision",
    "context_recall",
    "semantic_similarity",
    "answer_correctness",
    "overall_precision",
    "overall_recall",
    "overall_f1",
    "claim_recall",
    "retriever_context_precision",
    "context_utilization",
    "noise_sensitivity_relevant",
    "noise_sensitivity_irrelevant",
    "hallucination",
    "self_knowledge",
    "citation_recall",
    "citation_precision",
)

METRICS: tuple[Metric, ...] = tuple(import_module(f"{__package__}.{name}").METRIC for name in METRIC_MODULES)
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}
METRIC_NAMES: tuple[str, ...] = tuple(BY_NAME)
# What a request that names no metrics gets.
DEFAULT_METRICS: tuple[str, ...] = tuple(m.name for m in METRICS if m.default)
MetricName = Literal[METRIC_NAMES]  # type: ignore[valid-type]


def requiring(field: str, names) -> list[str]:
    """Which of the named metrics cannot score without `field` (e.g. "retrieved_contexts")."""
    return [name for name in names if field in BY_NAME[name].required_fields]
