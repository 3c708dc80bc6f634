"""Judging an answer sentence by sentence while it streams (the streaming guard's scoring; no I/O here).

`SentenceBuffer` takes the answer's text as it arrives and hands back each sentence once it is complete.
`StreamContext` holds the question and the contexts, split and indexed once when the stream starts (not
encoded: a claim encodes only the few context sentences it shares most words with, as in the full judge).
`prefetch` encodes those of the sentence still streaming, from the words it has so far. `judge_batch` judges
the claims of several sentences (of any streams) in one run of the embedded judge; `escalate` sends the ones
it is unsure of to an LLM judge (the cascade's rule); `final` turns every claim verdict of the answer into
faithfulness and a gate.
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
from .judges.embedded.claims import ClaimText, resolve, split_joined, subject_of, without_marker
from .judges.embedded.judge import SHORT_ANSWER_WORDS, EmbeddedJudge, claim_sentence, match_text
from .judges.embedded.support import Claim, ContextIndex, needed_sentences
from .judges.protocol import Judge
from .sample import Sample

StopOn = Literal["unsupported", "contradicted", "never"]
_CLOSERS = "\"'”’)]»"
_LAST_WORD = re.compile(r"(\S+)\.$")
# Characters of later text a sentence with an open quotation or bracket waits for its closing mark: a quotation
# that holds a sentence end ('"Stop. Go home." he said') closes within a few words, and a stray '"' never does.
MAX_OPEN = 60
_QUOTES = frozenset("\"'”’»")


def _open(sentence: str) -> bool:
    """True when a quotation or a bracket opened in the sentence is not closed yet."""
    return bool(sentence.count('"') % 2 or sentence.count("“") > sentence.count("”")
                or sentence.count("`") > sentence.count("'") or sentence.count("(") > sentence.count(")"))


@cache
def _abbreviations() -> frozenset[str]:
    # pysbd's own list ("dr", "e.g", "u.s", "etc"): the splitter the judge uses for whole answers.
    from pysbd.lang.english import English

    return frozenset(a.lower() for a in English.Abbreviation.ABBREVIATIONS)


def ends_sentence(sentence: str) -> bool:
    """True when the text surely ends a sentence as it stands, before any more text arrives.

    A period after a number (3. may become 3.5), after a known abbreviation ("Dr.", "e.g.") or after an
    initial ("J.") waits for the next text, which decides; so does a terminator inside an open quotation.
    """
    stripped = sentence.rstrip().rstrip(_CLOSERS)
    if not stripped or stripped[-1] not in ".!?":
        return False
    if _open(sentence):
        return False  # inside a quotation or brackets ('"Uptown Funk!', '(est.'): the rest is still to come
    if stripped[-1] != ".":
        # A title that ends in "!" or "?" within quotes ('"Uptown Funk!" featuring Bruno Mars') may go on.
        return not _QUOTES.intersection(sentence.rstrip()[len(stripped):])
    match = _LAST_WORD.search(stripped)
    word = match.group(1).lstrip("(\"'“‘[").lower() if match else ""
    initial = re.split(r"[-–/]", word)[-1]  # "Korea-U." as in "Korea-U.S."
    if not word or word[-1].isdigit() or "." in word or (len(initial) == 1 and initial.isalpha()):
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

    @property
    def pending(self) -> str:
        """The text after the last sentence handed out: the sentence still being streamed."""
        return self.text[self._done:]

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
        while not final and spans:
            start, end = spans[-1]
            sentence, after = tail[start:end], tail[end:]
            if not after.strip():  # nothing after it yet: its ending decides
                if "\n" in after or ends_sentence(sentence):
                    break
            # Before other text the splitter decided, unless all it saw after is punctuation (an ellipsis:
            # "a car . . ." may go on) or the sentence holds an open quotation or bracket ('(est. 2.3 bn)').
            elif any(c.isalnum() for c in after) and not (_open(sentence) and len(after) < MAX_OPEN):
                break
            spans.pop()  # this sentence may go on
        if not final:  # a quotation still open goes on into the sentences after it: they wait with it
            spans = spans[:next((k for k, (a, b) in enumerate(spans) if _open(tail[a:b]) and len(tail) - b < MAX_OPEN),
                                len(spans))]
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
        sentence = without_marker(sentence)
        for part in split_joined(sentence):
            resolved = resolve(part, self.subject)
            out.append(ClaimText(part if part is sentence else resolved, resolved))
            self.subject = subject_of(resolved) or self.subject
        return out


def index_contexts(judge: EmbeddedJudge, stream: StreamContext) -> None:
    """Split and index the stream's contexts (cached by content in the judge's store)."""
    stream.index = judge.store.index(stream.contexts)


def judge_batch(judge: EmbeddedJudge, items: list[tuple[StreamContext, list[ClaimText]]]) -> list[list[ClaimVerdict]]:
    """Verdicts of each item's claims, as the embedded judge gives them for the whole answer.

    The contexts are never encoded whole: as in the full judge, each claim is compared by embedding only with
    the few sentences of each context that share the most words with it (`Claim.candidates`), and only those
    are encoded (once: their vectors stay in the context's index, which the judge's store shares across streams
    by content). A claim found verbatim in a context needs no encoding at all. What is new for every item goes
    in one encoder run.
    """
    claims = [[Claim.of(c.text, match_text(c.resolved, stream.question)) for c in texts] for stream, texts in items]
    judge.store.embed_groups([(group, stream.index) for (stream, _), group in zip(items, claims, strict=True)])
    return [check_claims(judge.claim_verdicts(group, stream.index), stream.contexts) if group else []
            for (stream, _), group in zip(items, claims, strict=True)]


def prefetch(judge: EmbeddedJudge, stream: StreamContext, partial: str, limit: int) -> bool:
    """Encode up to `limit` context sentences that the sentence still streaming is likely to be compared with.

    Its candidates are picked from the words it has so far, as `Claim.candidates` will pick them once it is
    complete; most are then encoded before its last token. Returns True when more remain to encode.
    """
    partial = partial.strip()
    if len(text.words(partial)) <= SHORT_ANSWER_WORDS:
        # A short claim is matched with its question, whose candidates are most of the contexts (encoding them
        # ahead cost 4 times the encoding on rag_bench for 6% fewer encodes at a sentence's end): not prefetched.
        return False
    resolved = resolve(partial, stream.subject)
    todo = needed_sentences(Claim.of(resolved), stream.index)
    encode_sentences(judge, todo[:limit])
    return len(todo) > limit


def unencoded(stream: StreamContext, claims: list[ClaimText]) -> list[tuple[ContextIndex, int]]:
    """The context sentences `judge_batch` would encode for these claims now: none for a claim found verbatim,
    none once they are encoded (by `prefetch` or by `encode_sentences`)."""
    todo: dict[tuple[int, int], tuple[ContextIndex, int]] = {}
    for c in claims:
        for ctx, i in needed_sentences(Claim.of(c.text, match_text(c.resolved, stream.question)), stream.index):
            todo[(id(ctx), i)] = (ctx, i)
    return list(todo.values())


def encode_sentences(judge: EmbeddedJudge, todo: list[tuple[ContextIndex, int]]) -> None:
    """Encode these context sentences into their index (as judging would; an embedding does not depend on its
    batch)."""
    if todo:
        vectors = judge.store.encode([], [ctx.probes[i] for ctx, i in todo])
        for (ctx, i), vector in zip(todo, vectors, strict=True):
            ctx.vectors[i] = vector


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
