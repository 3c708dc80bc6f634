"""The guard's worker: a sentence that needs many context sentences encoded does not hold up cheap ones behind it."""
from __future__ import annotations

import asyncio

from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.streaming import StreamContext, index_contexts, judge_batch, unencoded
from ragmeter.service.server.guard_worker import CHUNK_TEXTS, GuardWorker

QUESTION = "Where is the Oberoi Group's head office?"
CONTEXTS = [f"The Oberoi Group opened an office in city {i}. Its head chef there came from city {i + 1}. The group's "
            f"office in city {i} is small." for i in range(8)] + ["The Oberoi Group has its head office in Delhi."]
QUOTED = "The Oberoi Group has its head office in Delhi."  # verbatim in the context: nothing to encode
SHORT = "Delhi."  # matched with the question: many candidate sentences to encode


async def test_a_quoted_sentence_is_answered_before_an_expensive_one_sent_ahead_of_it():
    judge = EmbeddedJudge()
    expensive, cheap = StreamContext(QUESTION, CONTEXTS), StreamContext(QUESTION, list(CONTEXTS))
    for stream in (expensive, cheap):
        index_contexts(judge, stream)
    short, quoted = expensive.claims(SHORT), cheap.claims(QUOTED)
    assert len(unencoded(expensive, short)) > CHUNK_TEXTS and not unencoded(cheap, quoted)
    worker = GuardWorker(judge)
    order: list[str] = []

    async def judged(name: str, stream: StreamContext, claims) -> list:
        verdicts = await worker.judge_claims(stream, claims)
        order.append(name)
        return verdicts

    try:
        slow, fast = await asyncio.gather(judged("expensive", expensive, short), judged("cheap", cheap, quoted))
    finally:
        await worker.aclose()
    assert order == ["cheap", "expensive"]
    # The same verdicts as judging each alone at once.
    alone = EmbeddedJudge()
    for stream, claims, got in ((expensive, short, slow), (cheap, quoted, fast)):
        fresh = StreamContext(stream.question, stream.contexts)
        index_contexts(alone, fresh)
        (want,) = judge_batch(alone, [(fresh, fresh.claims(claims[0].text))])
        assert [(v.verdict, v.probability) for v in got] == [(v.verdict, v.probability) for v in want]
