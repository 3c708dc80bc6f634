"""Judging an answer sentence by sentence while it streams (the streaming guard's scoring; no I/O here).

`SentenceBuffer` takes the answer's text as it arrives and hands back each sentence once it is complete.
`StreamContext` holds the question and the contexts, indexed once when the stream starts, so that each
sentence costs one encoder run for its own claims. `judge_batch` judges the claims of several sentences
(of any streams) in one run of the embedded judge; `escalate` sends the ones it is unsure of to an LLM
judge (the cascade's rule); `final` turns every claim verdict of the answer into faithfulness and a gate.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

from .evidence import check_claims
from .faithfulness import FaithfulnessDetail, faithfulness
from .gate import GateConfig, GateResult, apply_gate
from .judgements import ClaimVerdict, Decomposition, Needs, Usage, Verdict
from .judges.embedded import text
from .judges.embedded.claims import ClaimText, resolve, split_joined, subject_of
from .judges.embedded.judge import EmbeddedJudge, claim_sentence, match_text
from .judges.embedded.support import Claim, ContextIndex, needed_sentences
from .judges.protocol import Judge
from .sample import Sample

StopOn = Literal["unsupported", "contradicted", "never"]
_CLOSERS = "\"'”’)]»"
_LAST_WORD = re.compile(r"(\S+)\.$")


@cache
def _abbreviations() -> frozenset[str]:
    # pysbd's own list ("dr", "e.g", "u.s", "etc"): the splitter the judge uses for whole answers.
    from pysbd.lang.english import English

    return frozenset(a.lower() for a in English.Abbreviation.ABBREVIATIONS)


def ends_sentence(sentence: str) -> bool:
    """True when the text surely ends a sentence as it stands, before any more text arrives.

    A period after a number (3. may become 3.5), after a known abbreviation ("Dr.", "e.g.") or after an
    initial ("J.") waits for the next text, which decides.
    """
    stripped = sentence.rstrip().rstrip(_CLOSERS)
    if not stripped or stripped[-1] not in ".!?":
        return False
    if stripped[-1] != ".":
        return True
    match = _LAST_WORD.search(stripped)
    word = match.group(1).lstrip("(\"'“‘[").lower() if match else ""
    if not word or word[-1].isdigit() or "." in word or (len(word) == 1 and word.isalpha()):
        return False
    return word not in _abbreviations()


@dataclass(frozen=True)
class Sentence:
    index: int
    text: str
    start: int  # character offsets in the whole answer: text == answer[start:end]
    end: int


@dataclass
class SentenceBuffer:
    """The answer so far; `feed` returns the sentences each new piece completes, `finish` the rest.

    A sentence is complete when the splitter (pysbd, as for whole answers) finds text after it, or when it
    ends with a terminator that `ends_sentence` accepts, or with a line break.
    """

    text: str = ""
    _done: int = 0  # characters already handed out as sentences
    _count: int = 0

    @property
    def count(self) -> int:
        """Sentences handed out so far."""
        return self._count

    def feed(self, delta: str) -> list[Sentence]:
        self.text += delta
        return self._take(final=False)

    def finish(self) -> list[Sentence]:
        return self._take(final=True)

    def _take(self, final: bool) -> list[Sentence]:
        tail = self.text[self._done:]
        if not final and not any(c in tail for c in ".!?\n"):
            return []  # nothing can have ended: skip the splitter
        spans, pos = [], 0
        for part in text.sentences(tail):
            at = tail.find(part, pos)
            if at < 0:  # the splitter keeps sentences verbatim; stop rather than guess if it ever does not
                break
            spans.append((at, at + len(part)))
            pos = at + len(part)
        if not final and spans:
            start, end = spans[-1]
            after = tail[end:]
            if after.strip() or not ("\n" in after or ends_sentence(tail[start:end])):
                spans.pop()  # the last sentence may go on
        out = []
        for start, end in spans:
            out.append(Sentence(self._count, tail[start:end], self._done + start, self._done + end))
            self._count += 1
        if spans:
            self._done += spans[-1][1]
        return out


@dataclass
class StreamContext:
    """One stream's question and contexts, each context split and indexed once (shared through the judge's store)."""

    question: str
    contexts: list[str]
    index: list[ContextIndex] = field(default_factory=list)
    subject: str | None = None  # of the last claim: what a leading "It" in the next sentence stands for
    verdicts: list[ClaimVerdict] = field(default_factory=list)  # every claim verdict so far, in order

    def claims(self, sentence: str) -> list[ClaimText]:
        """The sentence's claims as the embedded judge splits a whole answer (pronouns resolved across sentences)."""
        if not claim_sentence(sentence):
            return []
        out = []
        for part in split_joined(sentence):
            resolved = resolve(part, self.subject)
            out.append(ClaimText(part if part is sentence else resolved, resolved))
            self.subject = subject_of(resolved) or self.subject
        return out


def index_contexts(judge: EmbeddedJudge, stream: StreamContext) -> None:
    """Split and index the stream's contexts (cached by content in the judge's store)."""
    stream.index = judge.store.index(stream.contexts)


def unencoded(stream: StreamContext) -> list[tuple[ContextIndex, int]]:
    """Context sentences without a vector yet."""
    return [(ctx, i) for ctx in stream.index for i in range(len(ctx.probes)) if i not in ctx.vectors]


def encode_sentences(judge: EmbeddedJudge, pairs: list[tuple[ContextIndex, int]]) -> None:
    """Encode context sentences ahead of the claims that will need them, so a sentence's verdict waits for less."""
    todo = [(ctx, i) for ctx, i in pairs if i not in ctx.vectors]
    if todo:
        for (ctx, i), vector in zip(todo, judge.store.encode([], [ctx.probes[i] for ctx, i in todo]), strict=True):
            ctx.vectors[i] = vector


def judge_batch(judge: EmbeddedJudge, items: list[tuple[StreamContext, list[ClaimText]]]) -> list[list[ClaimVerdict]]:
    """Verdicts of each item's claims; every claim of every item is encoded in one encoder run."""
    claims = [[Claim.of(c.text, match_text(c.resolved, stream.question)) for c in texts] for stream, texts in items]
    probes = list(dict.fromkeys(c.probe for group in claims for c in group))
    # The context sentences these claims will be compared with and that are not encoded yet go in the same run.
    todo = {(id(ctx), i): (ctx, i) for (stream, _), group in zip(items, claims, strict=True) for c in group
            for ctx, i in needed_sentences(c, stream.index)}
    if probes or todo:
        vectors = judge.store.encode(probes, [ctx.probes[i] for ctx, i in todo.values()])
        by_probe = dict(zip(probes, vectors[:len(probes)], strict=True))
        for group in claims:
            for c in group:
                c.embedding = by_probe[c.probe]
        for (ctx, i), vector in zip(todo.values(), vectors[len(probes):], strict=True):
            ctx.vectors[i] = vector
    return [check_claims(judge.claim_verdicts(group, stream.index), stream.contexts) if group else []
            for (stream, _), group in zip(items, claims, strict=True)]


async def escalate(llm: Judge, stream: StreamContext, answer: str, verdicts: list[ClaimVerdict],
                   uncertain: list[int], usage: Usage) -> list[ClaimVerdict]:
    """The verdicts with those at `uncertain` decided by the LLM judge (one verify call), marked `judged_by`."""
    if not uncertain:
        return verdicts
    sample = Sample(user_input=stream.question, retrieved_contexts=stream.contexts, response=answer)
    asked = Decomposition(claims=[verdicts[i].claim for i in uncertain])
    answered = await llm.verify(sample, asked, Needs(claims=True), usage)
    checked = check_claims(answered.claims, stream.contexts)
    out = list(verdicts)
    for i, verdict in zip(uncertain, checked, strict=True):
        out[i] = verdict.model_copy(update={"judged_by": llm.info.name, "probability": verdicts[i].probability})
    usage.escalated_claims += len(uncertain)
    return out


def sentence_verdict(verdicts: list[ClaimVerdict]) -> Verdict:
    """Contradicted if any claim is, else unsupported if any is; a sentence without claims has nothing to fail.

    A claim the judge abstained on (a language it cannot read) counts for nothing, as in faithfulness.
    """
    judged = [v for v in verdicts if not v.abstained or v.verdict == "supported"]
    if any(v.verdict == "contradicted" for v in judged):
        return "contradicted"
    if any(v.verdict == "unsupported" for v in judged):
        return "unsupported"
    return "supported"


def stops(verdict: Verdict, stop_on: StopOn) -> bool:
    """Whether a sentence with this verdict stops the stream."""
    if stop_on == "never":
        return False
    return verdict == "contradicted" or (stop_on == "unsupported" and verdict == "unsupported")


def final(verdicts: list[ClaimVerdict], gate: GateConfig, threshold: float) -> tuple[FaithfulnessDetail, GateResult]:
    """Faithfulness of the whole streamed answer and its gate, from the claim verdicts given per sentence."""
    judged = [v for v in verdicts if not v.abstained or v.verdict == "supported"]
    detail = FaithfulnessDetail(**dict(faithfulness(judged)), claims=verdicts)
    return detail, apply_gate({"faithfulness": detail}, verdicts, gate, threshold)
