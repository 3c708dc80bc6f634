"""Plain-words diagnosis from RAGChecker's numbers: which part of the pipeline to fix, for a sample or a batch.

Each finding is a rule on one metric; the thresholds are our own reading of the RAGChecker paper's
tables (Ru et al., 2024), where typical systems sit, so that a line means "worse than usual".
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# The metrics a diagnosis reads: without any of them there is nothing to diagnose (None, not []).
DIAGNOSTIC_METRICS = ("claim_recall", "retriever_context_precision", "context_utilization",
                      "noise_sensitivity_relevant", "noise_sensitivity_irrelevant", "hallucination", "self_knowledge",
                      "overall_precision", "overall_recall")


@dataclass(frozen=True)
class Finding:
    metric: str
    above: bool  # True: a value above the limit is the problem (a rate of something bad); False: below it
    limit: float
    text: str  # formatted with value (the score) and miss (1 - the score)
    why: str  # why this limit: shown in the docs, kept beside the number it explains


FINDINGS = (
    Finding("claim_recall", False, 0.8, "retriever misses {miss:.0%} of the reference's claims",
            "a fifth of the needed facts missing already caps the answer's recall, whatever the generator does"),
    Finding("retriever_context_precision", False, 0.5,
            "retriever brings noise: {miss:.0%} of the chunks hold none of the reference's claims",
            "more irrelevant chunks than relevant ones is where the paper sees noise sensitivity rise"),
    Finding("context_utilization", False, 0.7,
            "generator ignores {miss:.0%} of the reference's claims that the chunks hold",
            "the retrieved facts are there; the generator leaves out nearly a third of them"),
    Finding("noise_sensitivity_relevant", True, 0.1,
            "generator repeats wrong claims from relevant chunks (noise sensitivity {value:.2f})",
            "a tenth of the answer copied wrongly from the right chunks: tighten the prompt or the chunking"),
    Finding("noise_sensitivity_irrelevant", True, 0.1,
            "generator repeats wrong claims from irrelevant chunks (noise sensitivity {value:.2f})",
            "a tenth of the answer taken from chunks that do not belong: filter or rerank the retrieval"),
    Finding("hallucination", True, 0.1, "generator makes up {value:.0%} of its claims (in no chunk, and wrong)",
            "one claim in ten with no source and no truth is the gate's usual hallucination threshold"),
    Finding("self_knowledge", True, 0.2, "answer uses its own knowledge for {value:.0%} of claims",
            "right but ungrounded: a RAG app that must answer from its documents should not rely on it"),
    Finding("overall_precision", False, 0.7, "{miss:.0%} of the answer's claims are not in the reference",
            "the answer says things the right answer does not"),
    Finding("overall_recall", False, 0.7, "answer gives only {value:.0%} of the reference's claims",
            "the answer leaves out what the right answer says"),
)


def diagnose(scores: Mapping[str, float | None]) -> list[str] | None:
    """The findings for these scores (a sample's, or a batch's means); None when no diagnostic metric was scored."""
    present = {m: v for m in DIAGNOSTIC_METRICS if (v := scores.get(m)) is not None}
    if not present:
        return None
    return [f.text.format(value=value, miss=1.0 - value) for f in FINDINGS
            if (value := present.get(f.metric)) is not None and (value > f.limit if f.above else value < f.limit)]
