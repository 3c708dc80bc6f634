"""Context precision: are the useful contexts ranked first?

Each context gets a usefulness verdict against the reference (or, without one, against
the answer); the score is the average precision over the contexts in the given order:
sum_k(precision@k * useful_k) / number of useful contexts. No useful context scores 0.
"""
from __future__ import annotations

import sys
from typing import Literal

from pydantic import Field

from .judgements import ContextVerdict, Needs
from .metric import Judged, Metric, RagasCounterpart, replies_named
from .sample import Sample
from .metric_score import MetricScore


class ContextPrecisionDetail(MetricScore):
    basis: Literal["reference", "response"] | None = Field(
        default=None,
        description="What usefulness was judged against: the reference, or the answer when there is none.")
    contexts: list[ContextVerdict] = []


def average_precision(useful: list[bool]) -> float:
    """Average precision of a ranked list of relevance flags."""
    hits = 0
    total = 0.0
    for k, is_useful in enumerate(useful, start=1):
        if is_useful:
            hits += 1
            total += hits / k
    return total / hits if hits else 0.0


def context_precision(useful: list[bool]) -> MetricScore:
    return MetricScore.of(average_precision(useful))


def score(sample: Sample, judged: Judged) -> ContextPrecisionDetail:
    contexts = judged.verdicts.contexts
    return ContextPrecisionDetail(**dict(context_precision([c.useful for c in contexts])), contexts=contexts,
                                  basis="reference" if sample.reference is not None else "response")


def from_ragas(value: float, replies: list, sample: Sample) -> MetricScore:
    """ragas' per-context verdicts, in the contexts' order."""
    contexts = [ContextVerdict(index=i, useful=bool(r.verdict), reason=r.reason)
                for i, r in enumerate(replies_named(replies, "ContextPrecisionOutput"))]
    return ContextPrecisionDetail.of(value, contexts=contexts,
                                     basis="reference" if sample.reference is not None else "response")


METRIC = Metric(
    name="context_precision", module=sys.modules[__name__], detail=ContextPrecisionDetail, score=score,
    required_fields=("user_input", "retrieved_contexts", "response"), optional_fields=("reference",),
    needs=Needs(context_verdicts=True),
    ragas=RagasCounterpart(
        "ContextPrecision", ("user_input", "reference", "retrieved_contexts"), from_ragas,
        # Without a reference ragas judges usefulness against the answer, under another name.
        without_reference=RagasCounterpart("ContextUtilization", ("user_input", "response", "retrieved_contexts"),
                                           from_ragas),
        aliases=("llm_context_precision_with_reference", "llm_context_precision_without_reference",
                 "context_precision_with_reference", "context_precision_without_reference", "context_utilization")),
)
