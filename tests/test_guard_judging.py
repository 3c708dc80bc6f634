"""The streaming guard's judging: each claim gets the full embedded judge's verdict, while a stream encodes only
the few context sentences its claims are compared with, never its contexts whole. Real embedded judge, no network."""
import re

import pytest
from ragmeter.metrics.judgements import Decomposition, Needs
from ragmeter.metrics.judges.embedded.contexts import ContextStore
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge, split_claims
from ragmeter.metrics.sample import Sample
from ragmeter.metrics.streaming import SentenceBuffer, StreamContext, index_contexts, judge_batch, prefetch

QUESTION = "Where is the head office of the Oberoi Group, and when was it founded?"
CONTEXTS = [
    "The Oberoi Group is a hotel company with its head office in Delhi. It was founded in 1934 by Mohan Singh "
    "Oberoi. The group operates 31 luxury hotels and two river cruise ships in seven countries. Its hotels are "
    "known for their service. The chairman is Arjun Singh Oberoi. The company also runs a flight kitchen.",
    "Delhi is the capital of India. It has a population of about 30 million. The city lies on the Yamuna river. "
    "Its old quarter dates from the 17th century. Many companies have their offices there.",
    "Mohan Singh Oberoi was born in 1898 in Bhaun. He started as a desk clerk at a hotel in Shimla. He bought "
    "his first hotel in 1934. He died in 2002 at the age of 103.",
]
ANSWER = ("The Oberoi Group is a hotel company with its head office in Delhi. "  # quoted from a context
          "Its founder began his career as a clerk at a hotel in Shimla. "  # reworded, few words shared
          "Delhi. "  # a bare short answer: matched with its question
          "The group operates 85 hotels in 40 countries. "  # invented numbers
          "It was founded in 1934 by Mohan Singh Oberoi.")  # the pronoun resolved from the sentence before


class Counting:
    """The encoder, counting the texts it is given."""

    def __init__(self, encoder):
        self.encoder, self.texts = encoder, []

    def encode(self, texts, *args, **kwargs):
        self.texts += list(texts)
        return self.encoder.encode(texts, *args, **kwargs)


@pytest.fixture(scope="module")
def shared():
    return EmbeddedJudge()


@pytest.fixture
def judge(shared):
    """The shared judge with an empty store of its own (nothing encoded yet) and an encoder that counts."""
    shared.store = ContextStore(Counting(shared.encoder))
    return shared


def tokens(answer: str) -> list[str]:
    return re.findall(r"\s*[\w']+|\s*[^\w\s]", answer)


def streamed(judge: EmbeddedJudge, answer: str, contexts: list[str], prefetching: bool = False) -> list:
    """The guard's claim verdicts for the answer fed a token at a time (prefetching as the server does)."""
    stream = StreamContext(QUESTION, contexts)
    index_contexts(judge, stream)
    buffer, verdicts = SentenceBuffer(), []
    for token in [*tokens(answer), None]:
        sentences = buffer.finish() if token is None else buffer.feed(token)
        if prefetching and not sentences:
            while prefetch(judge, stream, buffer.pending, 1):
                pass
        for sentence in sentences:
            claims = stream.claims(sentence.text)
            verdicts += judge_batch(judge, [(stream, claims)])[0] if claims else []
    return verdicts


def whole(judge: EmbeddedJudge, answer: str, contexts: list[str]) -> list:
    sample = Sample(user_input=QUESTION, retrieved_contexts=contexts, response=answer)
    return judge.verify_sync(sample, Decomposition(claims=split_claims(answer)), Needs(claims=True)).claims


def essentials(verdicts) -> list[tuple]:
    return [(v.claim, v.verdict, v.probability, v.evidence, v.reason) for v in verdicts]


@pytest.mark.parametrize("prefetching", [False, True])
def test_each_streamed_claim_gets_the_full_judges_verdict_probability_and_evidence(judge, shared, prefetching):
    guard = streamed(judge, ANSWER, CONTEXTS, prefetching)
    shared.store = ContextStore(shared.encoder)  # the full judge starts from nothing encoded too
    full = whole(shared, ANSWER, CONTEXTS)
    assert len(full) == 5 and essentials(guard) == essentials(full)
    # the reworded claim is compared with its sentence, which shares few of its words, as in the full judge
    assert "He started as a desk clerk at a hotel in Shimla." in full[1].reason
    assert [v.verdict for v in full] == ["supported", full[1].verdict, "supported", "contradicted", "supported"]


def test_a_stream_encodes_its_claims_candidate_sentences_never_its_contexts_whole(judge):
    stream = StreamContext(QUESTION, CONTEXTS)
    index_contexts(judge, stream)
    assert judge.store.encoder.texts == []  # starting a stream encodes nothing
    claims = stream.claims("Its founder began his career as a clerk at a hotel in Shimla.")
    judge_batch(judge, [(stream, claims)])
    every = [s for ctx in stream.index for s in ctx.probes]
    encoded = [s for s in judge.store.encoder.texts if s in every]
    assert 0 < len(encoded) <= 3 * len(CONTEXTS) and len(encoded) < len(every) / 2
    assert "Delhi is the capital of India." not in encoded  # shares no word with the claim


def test_a_claim_quoted_from_the_contexts_needs_no_encoding(judge):
    verdicts = streamed(judge, "The chairman is Arjun Singh Oberoi.", CONTEXTS)
    assert [v.verdict for v in verdicts] == ["supported"] and judge.store.encoder.texts == []


def test_the_sentence_still_streaming_has_its_candidates_encoded_before_its_last_token(judge):
    stream = StreamContext(QUESTION, CONTEXTS)
    index_contexts(judge, stream)
    sentence = "Its founder began his career as a clerk at a hotel in Shimla."
    while prefetch(judge, stream, sentence[:-8], 1):  # "... a hotel in": its last word not sent yet
        pass
    before = len(judge.store.encoder.texts)
    assert before > 0
    judge_batch(judge, [(stream, stream.claims(sentence))])
    # at its last token, only the claim itself (and words a rewording check compares) is left to encode
    assert not [t for t in judge.store.encoder.texts[before:] if any(t in ctx.probes for ctx in stream.index)]


def test_contexts_seen_by_one_stream_are_not_encoded_again_for_the_next(judge):
    claim = "Its founder began his career as a clerk at a hotel in Shimla."
    streamed(judge, claim, CONTEXTS)
    first = len(judge.store.encoder.texts)
    assert any(t in ctx.probes for t in judge.store.encoder.texts for ctx in judge.store.index(CONTEXTS))
    streamed(judge, claim.replace("his career", "a career"), CONTEXTS)  # another stream, the same contexts
    again = judge.store.encoder.texts[first:]
    assert again and not [t for t in again if any(t in ctx.probes for ctx in judge.store.index(CONTEXTS))]
