"""The cascade judge: the embedded judge decides what it is sure of; the LLM judge only what it is not.

Decompose, relevance and embeddings stay embedded (decompose can be the LLM's, by setting). Verify
runs the embedded judge first; every claim, reference statement and context whose support
probability lies in the uncertain band, or that it abstained on (a language it cannot read), goes
to the LLM judge, all of one sample's in one verify call (with its per-chunk support list when asked
for). The comparison of answer and reference (`compare`) follows the same rule in one compare call.
Each verdict says which judge decided it (`judged_by`), and `usage` counts what was escalated.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..judgements import Comparison, Decomposition, EntailmentVerdict, JudgeInfo, Needs, Relevance, Usage, Verification
from ..sample import Sample
from .protocol import Judge

DecomposeWith = Literal["embedded", "llm"]


@dataclass(frozen=True)
class Band:
    """Support probabilities in [low, high) are uncertain; a missing probability is too."""

    low: float
    high: float

    def __post_init__(self):
        if not 0.0 <= self.low <= self.high <= 1.0:
            raise ValueError(f"the uncertain band [{self.low}, {self.high}) must lie within [0, 1]")

    def uncertain(self, probability: float | None) -> bool:
        return probability is None or self.low <= probability < self.high


class CascadeJudge:
    name = "cascade"

    def __init__(self, embedded: Judge, llm: Judge, band: Band, decompose_with: DecomposeWith = "embedded",
                 default_threshold: float | None = None):
        self.embedded, self.llm, self.band, self.decompose_with = embedded, llm, band, decompose_with
        # The verdicts that decide the gate are the LLM's where it matters, so its threshold is the default.
        self.default_threshold = llm.default_threshold if default_threshold is None else default_threshold
        self.info = JudgeInfo(name=self.name, model=f"{embedded.info.model} + {llm.info.model}",
                              embedding_model=embedded.info.embedding_model)
        caps = [c for c in (getattr(embedded, "max_sample_chars", None), getattr(llm, "max_sample_chars", None)) if c]
        if caps:  # both judges may read a sample: the smaller cap
            self.max_sample_chars = min(caps)

    # ------------------------------------------------------------ the protocol
    async def decompose(self, sample: Sample, need: Needs, usage: Usage) -> Decomposition:
        if self.decompose_with == "embedded":
            return await self.embedded.decompose(sample, need, usage)
        # The LLM writes the claims and statements; relevance stays the embedded estimate, so no questions.
        parts = await self.llm.decompose(sample, Needs(claims=need.claims, statements=need.statements), usage)
        if need.relevance:
            local = await self.embedded.decompose(sample, Needs(relevance=True), usage)
            parts.noncommittal = local.noncommittal
        return parts

    async def verify(self, sample: Sample, parts: Decomposition, need: Needs, usage: Usage) -> Verification:
        local = await self.embedded.verify(sample, parts, need, usage)
        # A verdict the embedded judge abstained on (a language it cannot read) goes on whatever its probability.
        claims = [i for i, v in enumerate(local.claims) if v.abstained or self.band.uncertain(v.probability)]
        statements = [i for i, v in enumerate(local.statements)
                      if v.abstained or self.band.uncertain(v.probability)]
        contexts = [i for i, v in enumerate(local.contexts) if self.band.uncertain(v.probability)]
        result = _tagged(local, self.embedded.info.name)
        if not (claims or statements or contexts):
            return result

        asked = Decomposition(claims=[local.claims[i].claim for i in claims],
                              statements=[local.statements[i].statement for i in statements])
        escalated = await self.llm.verify(
            sample, asked, Needs(claims=bool(claims), statements=bool(statements), context_verdicts=bool(contexts),
                                 chunk_support=need.chunk_support and bool(claims or statements)),
            usage)
        decided_by = self.llm.info.name
        for i, claim in zip(claims, escalated.claims, strict=True):
            result.claims[i] = claim.model_copy(update={"judged_by": decided_by,
                                                        "probability": local.claims[i].probability})
        for i, statement in zip(statements, escalated.statements, strict=True):
            result.statements[i] = statement.model_copy(update={"judged_by": decided_by,
                                                                "probability": local.statements[i].probability})
        by_index = {v.index: v for v in escalated.contexts}
        for i in contexts:
            if i in by_index:
                result.contexts[i] = by_index[i].model_copy(update={"judged_by": decided_by,
                                                                    "probability": local.contexts[i].probability})
        usage.escalated_claims += len(claims)
        usage.escalated_statements += len(statements)
        usage.escalated_contexts += len(contexts)
        return result

    async def relevance(self, sample: Sample, parts: Decomposition, usage: Usage) -> Relevance:
        return await self.embedded.relevance(sample, parts, usage)

    async def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        return await self.embedded.embed(texts, usage)

    async def compare(self, sample: Sample, parts: Decomposition, usage: Usage) -> Comparison:
        local = await self.embedded.compare(sample, parts, usage)
        claims = [i for i, v in enumerate(local.claims) if self._escalates(v)]
        statements = [i for i, v in enumerate(local.statements) if self._escalates(v)]
        name = self.embedded.info.name
        result = Comparison(claims=[v.model_copy(update={"judged_by": name}) for v in local.claims],
                            statements=[v.model_copy(update={"judged_by": name}) for v in local.statements])
        if not (claims or statements):
            return result
        asked = Decomposition(claims=[local.claims[i].text for i in claims],
                              statements=[local.statements[i].text for i in statements])
        escalated = await self.llm.compare(sample, asked, usage)
        decided_by = self.llm.info.name
        for mine, theirs, picked in ((result.claims, escalated.claims, claims),
                                     (result.statements, escalated.statements, statements)):
            for i, verdict in zip(picked, theirs, strict=True):
                mine[i] = verdict.model_copy(update={"judged_by": decided_by, "probability": mine[i].probability})
        usage.escalated_comparisons += len(claims) + len(statements)
        return result

    def _escalates(self, verdict: EntailmentVerdict) -> bool:
        return bool(verdict.abstained) or self.band.uncertain(verdict.probability)

    def unavailable_for(self) -> float:
        return self.llm.unavailable_for()

    async def ready(self) -> tuple[bool, str]:
        ok, why = await self.llm.ready()
        band = f"[{self.band.low}, {self.band.high})"
        return ok, f"embedded judge loaded; escalates support probabilities in {band} to the LLM judge: {why}"

    async def aclose(self) -> None:
        await self.embedded.aclose()
        await self.llm.aclose()


def _tagged(verification: Verification, name: str) -> Verification:
    """A copy of the verdicts, each marked as decided by the named judge."""
    return Verification(claims=[v.model_copy(update={"judged_by": name}) for v in verification.claims],
                        statements=[v.model_copy(update={"judged_by": name}) for v in verification.statements],
                        contexts=[v.model_copy(update={"judged_by": name}) for v in verification.contexts])
