"""Each sentence of a cited answer: its claims, the contexts it cites, and whether those support it.

A set of contexts supports a sentence when each of the sentence's claims is supported by at least one
context of the set (the claim's verdict is "supported" and the context is among those the judge found
supporting it). Citation recall and citation precision are both read from this analysis.
"""
from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from .citations import Marked, mark, with_spans
from .evidence import check_claims
from .judgements import ClaimVerdict
from .metric import Judged
from .metric_score import NO_CITATIONS, NO_CLAIMS, MetricScore, abstention
from .sample import Sample


class CitedSentence(BaseModel):
    """One sentence of the answer and what its citations say about it."""

    text: str
    span: list[int] = Field(description="[start, end) character offsets in the response.")
    citations: list[int] = Field(default=[], description="The 1-based context numbers its markers cite.")
    claims: list[str] = Field(default=[], description="The answer's claims found in this sentence.")
    supported: bool | None = Field(default=None, description="Whether its cited contexts together support each of "
                                   "its claims; null for a sentence without claims (it is not counted).")
    unsupported_claims: list[str] = Field(default=[], description="Its claims no cited context supports.")
    missing: list[int] = Field(default=[], description="Cited numbers with no such context (never supporting).")
    unneeded: list[int] = Field(default=[], description="Citations that are not needed (see citation_precision).")


class CitationDetail(MetricScore):
    sentences: list[CitedSentence] = []


def analyse(sample: Sample, judged: Judged) -> list[CitedSentence] | str:
    """The answer's sentences with their citations and support, or the null reason when there is nothing to check."""
    marked = judged.cited or mark(sample.response)
    if not marked.markers:
        return NO_CITATIONS
    claims = check_claims(judged.verdicts.claims, sample.retrieved_contexts) if judged.parts.claims else []
    if not claims:
        return NO_CLAIMS
    # A claim the judge could not read could go either way: the share would be a guess.
    if abstained := abstention(c.abstained for c in claims if c.verdict != "supported"):
        return abstained
    claims = with_spans(claims, marked)
    bounds = marked.sentences()
    placed = _place(claims, bounds, marked)
    owners = _marker_owners(bounds, marked)
    return [_sentence(marked, bound, placed[i], owners[i], len(sample.retrieved_contexts))
            for i, bound in enumerate(bounds)]


def _place(claims: list[ClaimVerdict], bounds: list[tuple[int, int]], marked: Marked) -> list[list[ClaimVerdict]]:
    """Each sentence's claims: a claim goes to the sentence its span overlaps most (a claim with no span to none)."""
    placed: list[list[ClaimVerdict]] = [[] for _ in bounds]
    originals = [marked.to_original(*b) for b in bounds]
    for claim in claims:
        if claim.span is None:
            continue
        start, end = claim.span
        overlaps = [min(end, b) - max(start, a) for a, b in originals]
        best = max(range(len(bounds)), key=lambda i: overlaps[i])
        if overlaps[best] > 0:
            placed[best].append(claim)
    return placed


def _marker_owners(bounds: list[tuple[int, int]], marked: Marked) -> list[list[int | None]]:
    """Each sentence's cited numbers: a marker belongs to the sentence it is in or that it follows."""
    owners: list[list[int | None]] = [[] for _ in bounds]
    # A sentence owns everything up to its last character in the original; markers after it ("Paris. [1]")
    # fall before the next sentence's first character and go to the previous sentence.
    starts = [marked.to_original(*b)[0] for b in bounds]
    for marker in marked.markers:
        later = [i for i, s in enumerate(starts) if s > marker.start]
        owner = (later[0] - 1 if later else len(bounds) - 1)
        owners[max(owner, 0)].append(marker.number)
    return owners


def _sentence(marked: Marked, bound: tuple[int, int], claims: list[ClaimVerdict], cited: list[int | None],
              n_contexts: int) -> CitedSentence:
    start, end = marked.to_original(*bound)
    numbers = list(dict.fromkeys(n for n in cited if n is not None))
    missing = [n for n in numbers if not 1 <= n <= n_contexts]
    # A marker whose group is not a number is cited but can support nothing: it counts as a missing context 0.
    if any(n is None for n in cited):
        numbers.append(0)
        missing.append(0)
    sentence = CitedSentence(text=marked.original[start:end], span=[start, end], citations=numbers,
                             claims=[c.claim for c in claims], missing=missing)
    if not claims:
        return sentence
    indices = {n - 1 for n in numbers if n not in missing}
    sentence.unsupported_claims = [c.claim for c in claims if not _supporting(c) & indices]
    sentence.supported = not sentence.unsupported_claims and bool(numbers)
    if sentence.supported:
        sentence.unneeded = [n for n in numbers if not _needed(n - 1, indices, claims)]
    else:
        sentence.unneeded = list(numbers)
    return sentence


def _supporting(claim: ClaimVerdict) -> set[int]:
    """The 0-based contexts that support a claim; the quoted one when the judge did not list them all."""
    if claim.verdict != "supported":
        return set()
    if claim.contexts is not None:
        return set(claim.contexts)
    return {claim.context_index} if claim.context_index is not None else set()


def _supports(contexts: set[int], claims: Iterable[ClaimVerdict]) -> bool:
    return all(_supporting(c) & contexts for c in claims)


def _needed(index: int, cited: set[int], claims: list[ClaimVerdict]) -> bool:
    """ALCE's rule on a supported sentence: a citation is unneeded when alone it does not support the sentence
    and the other citations support it without it."""
    return _supports({index}, claims) or not _supports(cited - {index}, claims)
