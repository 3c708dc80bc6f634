"""#22's judgements on every judge: which contexts support each claim (chunk support), and the answer and the
reference read against each other (compare), at one chat call more for the LLM judge."""
from __future__ import annotations

import dataclasses

import pytest
from ragmeter.metrics import Sample
from ragmeter.metrics.judgements import (ClaimVerdict, Comparison, Decomposition, EntailmentVerdict, ErrorInfo,
                                         JudgeInfo, Needs, Usage, Verification)
from ragmeter.metrics.judges import llm_replies
from ragmeter.metrics.judges.cascade import Band, CascadeJudge
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.llm import LLMJudge
from ragmeter.metrics.judges.ragas_engine import RagasEngine
from ragmeter.metrics.metric_score import NOT_IN_ENGINE
from ragmeter.metrics.registry import BY_NAME
from ragmeter.metrics.scoring import score_sample

from .scripted_judge import Fault

TOWER = "The Eiffel Tower was completed in 1889 for the World's Fair."
SAMPLE = Sample(
    user_input="When was the Eiffel Tower completed?",
    retrieved_contexts=[f"{TOWER} It stands in Paris.", "Berlin is the capital of Germany.",
                        f"Gustave Eiffel's company built it. {TOWER}"],
    response=f"{TOWER} It is 500 metres tall.",
    reference=f"{TOWER} It stands in Paris.",
)
PARTS = Decomposition(claims=[TOWER, "It is 500 metres tall."], statements=[TOWER, "It stands in Paris."])
EVERYTHING = Needs(claims=True, statements=True, chunk_support=True, correctness=True)


@pytest.fixture
def llm(fake):
    return LLMJudge.create(model="scripted", embedding_model="scripted-embed", base_url=fake.url, api_key="test",
                           timeout=10.0, max_retries=0)


# ---------------------------------------------------------------- the LLM judge
async def test_compare_costs_one_chat_call_and_reads_each_text_against_the_other(llm, fake):
    usage = Usage()
    compared = await llm.compare(SAMPLE, PARTS, usage)
    assert usage.chat_calls == len(fake.chat_requests) == 1
    assert [(v.text, v.entailed) for v in compared.claims] == [(TOWER, True), ("It is 500 metres tall.", False)]
    assert [(v.text, v.entailed) for v in compared.statements] == [(TOWER, True), ("It stands in Paris.", False)]
    prompt = fake.chat_requests[0]["messages"][1]["content"]
    assert "CONTEXTS" not in prompt and "Berlin" not in prompt  # the contexts are not read, nor paid for
    schema = fake.chat_requests[0]["response_format"]["json_schema"]
    assert schema["strict"] and schema["schema"]["properties"]["claims"]["minItems"] == 2


async def test_a_repeated_compare_is_answered_from_the_cache(llm, fake):
    first = await llm.compare(SAMPLE, PARTS, Usage())
    usage = Usage()
    again = await llm.compare(SAMPLE, PARTS, usage)
    assert again == first
    assert (usage.chat_calls, usage.cached_calls, len(fake.chat_requests)) == (0, 1, 1)


async def test_an_invalid_compare_reply_is_repaired_once(llm, fake):
    fake.push(Fault("wrong_count"))
    usage = Usage()
    compared = await llm.compare(SAMPLE, PARTS, usage)
    assert usage.chat_calls == 2
    assert "must hold exactly 2" in fake.chat_requests[1]["messages"][-1]["content"]
    assert [v.entailed for v in compared.claims] == [True, False]


async def test_nothing_to_compare_costs_no_call(llm, fake):
    usage = Usage()
    assert await llm.compare(SAMPLE, Decomposition(), usage) == Comparison()
    assert usage.chat_calls == 0 and not fake.chat_requests


async def test_chunk_support_rides_in_the_verify_call_and_lists_every_supporting_context(llm, fake):
    usage = Usage()
    verdicts = await llm.verify(SAMPLE, PARTS, EVERYTHING, usage)
    assert usage.chat_calls == 1
    assert [v.contexts for v in verdicts.claims] == [[0, 2], []]
    assert [v.contexts for v in verdicts.statements] == [[0, 2], [0]]
    assert '"supported_by"' in fake.chat_requests[0]["messages"][1]["content"]


async def test_without_chunk_support_verify_asks_and_returns_what_it_did_before(llm, fake):
    verdicts = await llm.verify(SAMPLE, PARTS, Needs(claims=True, statements=True), Usage())
    assert all(v.contexts is None for v in verdicts.claims + verdicts.statements)
    request = fake.chat_requests[0]
    assert "supported_by" not in request["messages"][1]["content"]
    assert "supported_by" not in str(request["response_format"])


async def test_context_numbers_out_of_range_are_dropped_not_fatal(llm, fake):
    fake.push(Fault("out_of_range"))  # every list gains 0 and 99, with three contexts
    usage = Usage()
    verdicts = await llm.verify(SAMPLE, PARTS, EVERYTHING, usage)
    assert usage.chat_calls == 1
    assert [v.contexts for v in verdicts.claims] == [[0, 2], []]


def test_supporting_contexts_agree_with_the_verdict():
    assert llm_replies.supporting_contexts([3, 1, 3], quoted=None, supported=True, n_contexts=3) == [0, 2]
    assert llm_replies.supporting_contexts([], quoted=1, supported=True, n_contexts=3) == [1]
    assert llm_replies.supporting_contexts([1, 2], quoted=0, supported=False, n_contexts=3) == []


# ---------------------------------------------------------------- the embedded judge
@pytest.fixture(scope="module")
def embedded():
    return EmbeddedJudge()


async def test_embedded_chunk_support_lists_every_context_holding_the_claim(embedded):
    parts = await embedded.decompose(SAMPLE, EVERYTHING, Usage())
    with_chunks = await embedded.verify(SAMPLE, parts, EVERYTHING, Usage())
    without = await embedded.verify(SAMPLE, parts, Needs(claims=True, statements=True), Usage())
    assert [v.contexts for v in with_chunks.claims] == [[0, 2], []]
    assert with_chunks.statements[0].contexts == [0, 2]
    assert all(v.contexts is None for v in without.claims + without.statements)
    # The verdicts themselves are the ones verify gives without chunk support.
    strip = {"contexts"}
    assert ([v.model_dump(exclude=strip) for v in with_chunks.claims + with_chunks.statements]
            == [v.model_dump(exclude=strip) for v in without.claims + without.statements])


@pytest.mark.parametrize(("answer", "reference", "claim_entailed", "statement_entailed"), [
    (TOWER, TOWER, True, True),
    (f"{TOWER} It is 500 metres tall.", TOWER, False, True),  # an answer claim the reference lacks
    ("The Eiffel Tower was completed in 1889.", f"The Eiffel Tower was completed in 1889. {TOWER[:-1]} in Paris.",
     True, False),  # a reference statement the answer lacks
    ("The Eiffel Tower was completed in 1899 for the World's Fair.", TOWER, False, False),  # a changed number
    ("The Eiffel Tower was not completed in 1889 for the World's Fair.", TOWER, False, False),  # an added "not"
])
async def test_embedded_compare_reads_the_answer_against_the_reference(embedded, answer, reference, claim_entailed,
                                                                       statement_entailed):
    sample = Sample(user_input="When was the Eiffel Tower completed?", retrieved_contexts=["unused"], response=answer,
                    reference=reference)
    parts = await embedded.decompose(sample, EVERYTHING, Usage())
    compared = await embedded.compare(sample, parts, Usage())
    assert all(v.entailed for v in compared.claims) == claim_entailed
    assert all(v.entailed for v in compared.statements) == statement_entailed
    assert all(v.probability is not None and v.reason for v in compared.claims + compared.statements)


# ---------------------------------------------------------------- the cascade
class Sure:
    """An embedded judge stand-in whose comparison has fixed probabilities."""

    info = JudgeInfo(name="embedded")
    default_threshold = 0.4

    def __init__(self, claims, statements):
        self.p_claims, self.p_statements = claims, statements

    async def compare(self, sample, parts, usage):
        return Comparison(
            claims=[EntailmentVerdict(text=c, entailed=p >= 0.6, probability=p)
                    for c, p in zip(parts.claims, self.p_claims, strict=True)],
            statements=[EntailmentVerdict(text=s, entailed=p >= 0.6, probability=p)
                        for s, p in zip(parts.statements, self.p_statements, strict=True)])


class Asked:
    """An LLM judge stand-in that says no to everything and records what it was asked."""

    info = JudgeInfo(name="openai")
    default_threshold = 0.2

    def __init__(self):
        self.asked: list[Decomposition] = []

    async def compare(self, sample, parts, usage):
        self.asked.append(parts)
        usage.chat_calls += 1
        return Comparison(claims=[EntailmentVerdict(text=c, entailed=False, reason="llm") for c in parts.claims],
                          statements=[EntailmentVerdict(text=s, entailed=False, reason="llm")
                                      for s in parts.statements])


async def test_the_cascade_sends_only_uncertain_comparisons_to_the_llm_in_one_call():
    llm = Asked()
    cascade = CascadeJudge(Sure(claims=(0.99, 0.5), statements=(0.3, 0.01)), llm, Band(0.2, 0.95))
    usage = Usage()
    compared = await cascade.compare(SAMPLE, PARTS, usage)
    assert llm.asked == [Decomposition(claims=["It is 500 metres tall."], statements=[TOWER])]
    assert usage.chat_calls == 1 and usage.escalated_comparisons == 2
    assert [v.judged_by for v in compared.claims] == ["embedded", "openai"]
    assert [v.judged_by for v in compared.statements] == ["openai", "embedded"]
    assert [v.entailed for v in compared.claims] == [True, False]
    assert compared.claims[1].probability == 0.5  # the embedded judge's estimate is kept beside the LLM's verdict


async def test_a_cascade_that_is_sure_of_every_comparison_makes_no_call():
    llm = Asked()
    cascade = CascadeJudge(Sure(claims=(0.99, 0.01), statements=(0.97, 0.1)), llm, Band(0.2, 0.95))
    usage = Usage()
    await cascade.compare(SAMPLE, PARTS, usage)
    assert not llm.asked and usage.chat_calls == usage.escalated_comparisons == 0


# ---------------------------------------------------------------- the ragas engine
async def test_a_metric_ragas_lacks_is_null_with_a_reason_under_the_ragas_engine(monkeypatch):
    engine = object.__new__(RagasEngine)  # no ragas needed: a metric without a counterpart never reaches it
    monkeypatch.setitem(BY_NAME, "faithfulness", dataclasses.replace(BY_NAME["faithfulness"], ragas=None))
    errors: list[ErrorInfo] = []
    details = await engine.score_metrics(SAMPLE, ["faithfulness"], Usage(), errors)
    assert details["faithfulness"].score is None and details["faithfulness"].reason == NOT_IN_ENGINE
    assert errors == []


class SureVerify:
    """An embedded judge stand-in whose verdicts have fixed probabilities and per-chunk support."""

    info = JudgeInfo(name="embedded")
    default_threshold = 0.4

    async def verify(self, sample, parts, need, usage):
        return Verification(claims=[ClaimVerdict(claim=c, verdict="supported", probability=p, contexts=[0])
                                    for c, p in zip(parts.claims, (0.99, 0.5), strict=True)])


class AskedVerify:
    info = JudgeInfo(name="openai")
    default_threshold = 0.2

    def __init__(self):
        self.needs: list[Needs] = []

    async def verify(self, sample, parts, need, usage):
        self.needs.append(need)
        return Verification(claims=[ClaimVerdict(claim=c, verdict="supported", contexts=[0, 2]) for c in parts.claims])


async def test_the_cascade_takes_the_llms_chunk_list_for_the_claims_it_escalates():
    llm = AskedVerify()
    cascade = CascadeJudge(SureVerify(), llm, Band(0.2, 0.95))
    verdicts = await cascade.verify(SAMPLE, PARTS, Needs(claims=True, chunk_support=True), Usage())
    assert llm.needs == [Needs(claims=True, chunk_support=True)]
    assert [v.contexts for v in verdicts.claims] == [[0], [0, 2]]


async def test_correctness_metrics_score_on_the_embedded_judge_alone(embedded):
    # Asked without any context metric, the comparison still gets the answer's claims and the reference's statements.
    sample = Sample(user_input="When was the Eiffel Tower completed?", retrieved_contexts=["unrelated"],
                    response="The Eiffel Tower was completed in 1889.",
                    reference="The Eiffel Tower was completed in 1889. It is 330 metres tall.")
    result = await score_sample(sample, embedded, ["answer_correctness", "overall_precision", "overall_recall"])
    assert result.scores.overall_precision == 1.0
    assert result.scores.overall_recall == 0.5
    assert result.scores.answer_correctness is not None
    assert result.details.answer_correctness.false_negatives == ["It is 330 metres tall."]
