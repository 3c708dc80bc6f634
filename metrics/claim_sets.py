"""The claim sets RAGChecker's metrics and answer correctness count, built once from a sample's judgements.

An answer claim is *faithful* when some context supports it (the faithfulness metric's numerator, after
the same evidence check), *correct* when the reference entails it; a context chunk is *relevant* when it
supports at least one reference statement (Ru et al., 2024).
"""
from __future__ import annotations

from dataclasses import dataclass

from .evidence import check_claims, check_statements
from .judgements import ClaimVerdict, EntailmentVerdict, StatementVerdict
from .metric import Judged, JudgementMissing
from .metric_score import NO_CLAIMS, NO_STATEMENTS, MetricScore, abstention
from .sample import Sample

# The judge gave a supported verdict without saying which chunks support it (RAGChecker reads them).
NO_CHUNK_SUPPORT = "no_chunk_support"
# No reference statement is found in any retrieved chunk: context utilization has nothing to utilise.
NO_STATEMENT_IN_CONTEXTS = "no_statement_in_contexts"


class Incomplete(Exception):
    """The judgements cannot give this set; the score is null with `reason`."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AnswerClaim:
    claim: str
    faithful: bool
    correct: bool | None  # None when the comparison with the reference was not read
    chunks: frozenset[int]


def compared(items: list[EntailmentVerdict], empty_reason: str) -> list[EntailmentVerdict]:
    """The comparison verdicts, or Incomplete when there are none or one the judge abstained on."""
    if not items:
        raise Incomplete(empty_reason)
    if reason := abstention(i.abstained for i in items):
        raise Incomplete(reason)  # an abstained entailment could go either way: a share with it would be a guess
    return items


def claims_vs_reference(judged: Judged) -> list[EntailmentVerdict]:
    """Each answer claim: does the reference entail it."""
    return compared(judged.compared.claims, NO_CLAIMS)


def statements_vs_answer(judged: Judged) -> list[EntailmentVerdict]:
    """Each reference statement: does the answer entail it."""
    return compared(judged.compared.statements, NO_STATEMENTS)


def _chunks(supported: bool, contexts: list[int] | None, n_contexts: int) -> frozenset[int]:
    if not supported:
        return frozenset()
    if not contexts:
        raise Incomplete(NO_CHUNK_SUPPORT)
    return frozenset(i for i in contexts if 0 <= i < n_contexts)


def reference_statements(sample: Sample, judged: Judged) -> list[StatementVerdict]:
    """The reference's statements after the evidence check, abstentions left out (as context_recall does)."""
    if not judged.parts.statements:
        raise Incomplete(NO_STATEMENTS)
    statements = check_statements(judged.verdicts.statements, sample.retrieved_contexts)
    kept = [s for s in statements if not s.abstained or s.attributable]
    if not kept:
        raise Incomplete(abstention(s.abstained for s in statements) or NO_STATEMENTS)
    return kept


def statement_chunks(sample: Sample, judged: Judged) -> list[frozenset[int]]:
    """For each reference statement, the chunks that support it."""
    n = len(sample.retrieved_contexts)
    return [_chunks(s.attributable, s.contexts, n) for s in reference_statements(sample, judged)]


def relevant_chunks(sample: Sample, judged: Judged) -> frozenset[int]:
    """The chunks that support at least one reference statement."""
    return frozenset().union(*statement_chunks(sample, judged))


def answer_claims(sample: Sample, judged: Judged, correctness: bool = True,
                  chunks: bool = False) -> list[AnswerClaim]:
    """The answer's claims the faithfulness metric counts, each with its correctness and supporting chunks."""
    if not judged.parts.claims:
        raise Incomplete(NO_CLAIMS)
    verdicts: list[ClaimVerdict] = check_claims(judged.verdicts.claims, sample.retrieved_contexts)
    entailed: list[bool | None] = [None] * len(verdicts)
    if correctness:
        against = claims_vs_reference(judged)
        if len(against) != len(verdicts):
            raise JudgementMissing  # the two judgements disagree on the claims: nothing to pair
        entailed = [e.entailed for e in against]
    n = len(sample.retrieved_contexts)
    kept = [AnswerClaim(v.claim, v.verdict == "supported", correct,
                        _chunks(v.verdict == "supported", v.contexts, n) if chunks else frozenset())
            for v, correct in zip(verdicts, entailed, strict=True)
            if not v.abstained or v.verdict == "supported"]
    if not kept:
        raise Incomplete(abstention(v.abstained for v in verdicts) or NO_CLAIMS)
    return kept


class ShareDetail(MetricScore):
    """A share of claims, statements or chunks, with what it counted."""

    counted: list[str] = []
    total: int | None = None


def tally(compute) -> ShareDetail:
    """`compute()` gives (the items counted, the total); Incomplete becomes null with its reason."""
    try:
        counted, total = compute()
    except Incomplete as missing:
        return ShareDetail.null(missing.reason)
    return ShareDetail.of(len(counted) / total, counted=counted, total=total)
