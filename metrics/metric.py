"""What a metric is: its definition, the fields and judgements it reads, its detail model, its formula.

Each metric module defines one `Metric`; `registry.py` lists them. The catalog, the metric name
type, which judge calls a request makes, batch columns and CI rules are all derived from that list;
the result and row models name each metric's field (checked against the list by tests/test_registry.py).
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .citations import Marked
from .judgements import Comparison, Decomposition, Needs, Relevance, Verification
from .sample import Sample
from .metric_score import INVALID_VALUE, JUDGE_ERROR, NEEDS_FIELD, NOT_REQUESTED, MetricScore


class JudgementMissing(Exception):
    """A formula read a judgement whose judge call failed; the score becomes null with `judge_error`."""


@dataclass(frozen=True)
class Judged:
    """One sample's judgements; None where the judge call failed (its error is in the result's `errors`)."""

    decomposition: Decomposition | None
    verification: Verification | None
    relevance_judgement: Relevance | None
    vectors: dict[str, list[float]] | None
    comparison: Comparison | None = None  # asked for only when a metric needs correctness
    cited: Marked | None = None  # the answer's citation markers; the judges read it without them

    @property
    def parts(self) -> Decomposition:
        return _present(self.decomposition)

    @property
    def verdicts(self) -> Verification:
        return _present(self.verification)

    @property
    def relevance(self) -> Relevance:
        return _present(self.relevance_judgement)

    @property
    def compared(self) -> Comparison:
        return _present(self.comparison)

    def vector(self, text: str) -> list[float]:
        """The embedding of a text the metric asked for through `Metric.embeds`."""
        return _present(self.vectors)[text]


def _present(value):
    if value is None:
        raise JudgementMissing
    return value


@dataclass(frozen=True)
class RagasCounterpart:
    """The ragas metric that computes the same score, for the ragas engine (RAGMETER_JUDGE=ragas)."""

    metric: str  # its class in ragas.metrics.collections
    fields: tuple[str, ...]  # the sample fields it is called with (ragas' names, which are the sample's)
    # Its value and the structured replies it received, as this metric's detail (NaN becomes null).
    details: Callable[[float, list, Sample], MetricScore]
    uses: tuple[str, ...] = ("llm",)  # what it is built with: llm, embeddings, strictness (questions per answer)
    without_reference: RagasCounterpart | None = None  # what ragas runs instead when the sample has no reference
    aliases: tuple[str, ...] = ()  # ragas' other names for this metric, accepted by the notebook's evaluate()


def replies_named(replies: list, type_name: str) -> list:
    """The structured replies ragas received of one response model (matched by name: ragas is optional)."""
    return [r for r in replies if type(r).__name__ == type_name]


@dataclass(frozen=True)
class Metric:
    """One metric, declared once."""

    name: str
    module: object  # the metric's module: its docstring is the definition
    detail: type[MetricScore]  # the score plus the evidence behind it, as returned in `details`
    score: Callable[[Sample, Judged], MetricScore]  # the formula, on judgements that succeeded
    required_fields: tuple[str, ...]
    optional_fields: tuple[str, ...] = ()
    needs: Needs = Needs()
    embeds: Callable[[Sample], list[str]] | None = None  # texts the formula needs embedded
    null_reasons: tuple[str, ...] = ()  # the metric's own; the common ones are added by `all_null_reasons`
    default: bool = True  # computed when a request names no metrics
    ragas: RagasCounterpart | None = None  # the same metric in ragas, for the ragas engine
    # Which way is good: "lower" for rates of something bad (hallucination); comparisons, CI rules and the
    # gate read it so that a rise in hallucination is a regression.
    better: Literal["higher", "lower"] = "higher"

    @property
    def definition(self) -> str:
        return inspect.getdoc(self.module) or ""

    def all_null_reasons(self) -> list[str]:
        fields = [NEEDS_FIELD[f] for f in self.required_fields if f in NEEDS_FIELD]
        return list(dict.fromkeys([*self.null_reasons, *fields, JUDGE_ERROR, INVALID_VALUE, NOT_REQUESTED]))

    def missing_field(self, sample: Sample) -> str | None:
        """The null reason when a required field is absent or empty, else None."""
        for field in self.required_fields:
            if getattr(sample, field) in (None, "", []):
                return NEEDS_FIELD.get(field, f"needs_{field}")
        return None

    def evaluate(self, sample: Sample, judged: Judged, requested: bool) -> MetricScore:
        """This metric's detail for a sample: the formula, or null with the reason it cannot run."""
        if not requested:
            return self.detail.null(NOT_REQUESTED)
        if reason := self.missing_field(sample):
            return self.detail.null(reason)
        try:
            return self.score(sample, judged)
        except JudgementMissing:
            return self.detail.null(JUDGE_ERROR)
