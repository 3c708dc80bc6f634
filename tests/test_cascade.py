"""The cascade judge: the embedded judge decides what it is sure of; only uncertain items reach the LLM judge."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from ragmeter.metrics import Sample, score_sample
from ragmeter.metrics.judgements import (
    ClaimVerdict,
    ContextVerdict,
    Decomposition,
    JudgeInfo,
    Needs,
    StatementVerdict,
    Verification,
)
from ragmeter.metrics.judges.cascade import Band, CascadeJudge
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.llm import LLMJudge
from ragmeter.service.server.app import create_app
from ragmeter.service.judge_setup import build_judge
from ragmeter.service.settings import Settings

from .helpers import CONTEXTS, SAMPLE, StubJudge

CLAIMS = ["The Eiffel Tower is in Paris.", "It was completed in 1889 for the World's Fair.", "It is 500 metres tall."]
STATEMENTS = ["It was completed in 1889 for the World's Fair."]


class SureJudge(StubJudge):
    """An embedded judge stand-in with fixed support probabilities per claim, statement and context."""

    info = JudgeInfo(name="embedded", model="support-test")
    default_threshold = 0.725

    def __init__(self, claims=(0.99, 0.6, 0.02), statements=(0.97,), contexts=(0.97, 0.0)):
        super().__init__()
        self.p_claims, self.p_statements, self.p_contexts = claims, statements, contexts
        self.decomposed = 0

    async def decompose(self, sample, need, usage):
        self.decomposed += 1
        return Decomposition(claims=CLAIMS if need.claims else [], statements=STATEMENTS if need.statements else [])

    async def verify(self, sample, parts, need, usage):
        # Probabilities are set for every claim and statement; a request that needs none has none to zip with.
        return Verification(
            claims=[ClaimVerdict(claim=c, verdict="supported" if p >= 0.575 else "unsupported", probability=p,
                                 evidence=c if p >= 0.575 else "")
                    for c, p in zip(parts.claims, self.p_claims, strict=False)],
            statements=[StatementVerdict(statement=s, attributable=p >= 0.575, probability=p, evidence=s)
                        for s, p in zip(parts.statements, self.p_statements, strict=False)],
            contexts=[ContextVerdict(index=i, useful=p >= 0.575, probability=p)
                      for i, p in enumerate(self.p_contexts)] if need.context_verdicts else [])


class RecordingLLM(SureJudge):
    """An LLM judge stand-in: says every claim it is asked about is unsupported, and records what it was asked."""

    info = JudgeInfo(name="openai", model="scripted")
    default_threshold = 0.2

    def __init__(self):
        super().__init__()
        self.asked: list[tuple[Decomposition, Needs]] = []

    async def verify(self, sample, parts, need, usage):
        self.asked.append((parts, need))
        usage.chat_calls += 1
        return Verification(
            claims=[ClaimVerdict(claim=c, verdict="unsupported", reason="llm says no") for c in parts.claims],
            statements=[StatementVerdict(statement=s, attributable=False) for s in parts.statements],
            contexts=[ContextVerdict(index=i, useful=True, reason="llm")
                      for i in range(len(sample.retrieved_contexts))] if need.context_verdicts else [])


async def test_only_claims_in_the_uncertain_band_go_to_the_llm_in_one_call_and_say_who_decided():
    llm = RecordingLLM()
    cascade = CascadeJudge(SureJudge(claims=(0.99, 0.6, 0.3)), llm, Band(0.2, 0.95))
    result = await score_sample(Sample(**SAMPLE), cascade, ["faithfulness"])

    assert len(llm.asked) == 1
    assert llm.asked[0][0].claims == [CLAIMS[1], CLAIMS[2]]
    claims = result.details.faithfulness.claims
    assert [(c.verdict, c.judged_by) for c in claims] == [
        ("supported", "embedded"), ("unsupported", "openai"), ("unsupported", "openai")]
    assert claims[1].probability == 0.6  # the embedded estimate that sent it on stays visible
    assert result.usage.escalated_claims == 2 and result.usage.chat_calls == 1
    assert result.scores.faithfulness == pytest.approx(1 / 3)
    assert result.judge.name == "cascade"


async def test_a_claim_the_embedded_judge_abstained_on_goes_to_the_llm_whatever_its_probability():
    class Abstaining(SureJudge):
        async def verify(self, sample, parts, need, usage):
            verdicts = await super().verify(sample, parts, need, usage)
            verdicts.claims[2] = verdicts.claims[2].model_copy(update={"abstained": "unsupported_language"})
            return verdicts

    llm = RecordingLLM()
    result = await score_sample(Sample(**SAMPLE), CascadeJudge(Abstaining(claims=(0.99, 0.99, 0.01)), llm,
                                                               Band(0.2, 0.95)), ["faithfulness"])
    assert llm.asked[0][0].claims == [CLAIMS[2]]
    assert result.details.faithfulness.claims[2].abstained is None
    assert result.scores.faithfulness == pytest.approx(2 / 3)


async def test_a_sure_embedded_judge_costs_no_llm_call():
    llm = RecordingLLM()
    cascade = CascadeJudge(SureJudge(claims=(0.99, 0.97, 0.02)), llm, Band(0.2, 0.95))
    result = await score_sample(Sample(**SAMPLE), cascade)

    assert llm.asked == [] and result.usage.chat_calls == 0
    assert result.usage.escalated_claims == result.usage.escalated_statements == result.usage.escalated_contexts == 0
    assert {c.judged_by for c in result.details.faithfulness.claims} == {"embedded"}
    assert result.scores.faithfulness == pytest.approx(2 / 3)


async def test_uncertain_statements_and_contexts_are_escalated_with_the_claims_in_the_same_call():
    llm = RecordingLLM()
    embedded = SureJudge(claims=(0.99, 0.99, 0.01), statements=(0.5,), contexts=(0.99, 0.4))
    result = await score_sample(Sample(**SAMPLE), CascadeJudge(embedded, llm, Band(0.2, 0.95)))

    [(parts, need)] = llm.asked
    assert parts.claims == [] and parts.statements == STATEMENTS
    assert need == Needs(statements=True, context_verdicts=True)
    assert result.usage.escalated_statements == 1 and result.usage.escalated_contexts == 1
    assert result.scores.context_recall == 0.0
    contexts = result.details.context_precision.contexts
    # Only the uncertain second context takes the LLM's verdict; the sure first one keeps the embedded one.
    assert [(c.useful, c.judged_by) for c in contexts] == [(True, "embedded"), (True, "openai")]


async def test_decompose_stays_embedded_unless_configured():
    embedded, llm = SureJudge(), RecordingLLM()
    await score_sample(Sample(**SAMPLE), CascadeJudge(embedded, llm, Band(0.2, 0.95)))
    assert embedded.decomposed == 1 and llm.decomposed == 0

    embedded, llm = SureJudge(), RecordingLLM()
    await score_sample(Sample(**SAMPLE), CascadeJudge(embedded, llm, Band(0.2, 0.95), decompose_with="llm"))
    assert llm.decomposed == 1


def test_a_band_outside_zero_one_or_upside_down_is_refused():
    with pytest.raises(ValueError):
        Band(0.9, 0.1)
    with pytest.raises(ValueError):
        Settings(cascade_band_low=0.9, cascade_band_high=0.1)


def test_cascade_through_the_service_against_an_openai_compatible_judge(fake, monkeypatch):
    """The real embedded judge and the real LLM judge: a band over everything sends every claim on, in one call."""
    llm = LLMJudge.create(model="scripted", embedding_model="scripted-embed", base_url=fake.url, api_key="t")
    cascade = CascadeJudge(EmbeddedJudge(), llm, Band(0.0, 1.0))
    with TestClient(create_app(Settings(), judge=cascade)) as client:
        body = client.post("/v1/evaluate", json={"samples": [SAMPLE], "metrics": ["faithfulness"]}).json()
    result = body["results"][0]
    assert len(fake.chat_requests) == 1  # one verify call; decompose stayed embedded
    assert {c["judged_by"] for c in result["details"]["faithfulness"]["claims"]} == {"openai"}
    assert result["usage"]["escalated_claims"] == len(result["details"]["faithfulness"]["claims"]) > 0
    assert result["judge"]["name"] == "cascade"
    # The scripted judge supports a claim that a context holds word for word.
    supported = [c["claim"] for c in result["details"]["faithfulness"]["claims"] if c["verdict"] == "supported"]
    assert supported and all(any(s in ctx for ctx in CONTEXTS) for s in supported)

    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    built = build_judge(Settings(judge="cascade"))
    assert isinstance(built, CascadeJudge) and (built.band.low, built.band.high) == (0.6, 0.95)
