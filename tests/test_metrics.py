"""The metric arithmetic, the evidence check, the gate and reply parsing, without any judge."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ragmeter.metrics import Sample
from ragmeter.metrics.answer_relevancy import answer_relevancy, cosine_similarities
from ragmeter.metrics.context_precision import average_precision, context_precision
from ragmeter.metrics.context_recall import context_recall
from ragmeter.metrics.evidence import check_claims, locate, normalise
from ragmeter.metrics.faithfulness import faithfulness
from ragmeter.metrics.gate import GateConfig, apply_gate
from ragmeter.metrics.judgements import ClaimVerdict, Decomposition, Needs, StatementVerdict
from ragmeter.metrics.judges import llm_replies, prompts
from ragmeter.metrics.metric_score import MetricScore


def claim(verdict: str, evidence: str = "", text: str = "c") -> ClaimVerdict:
    return ClaimVerdict(claim=text, verdict=verdict, evidence=evidence)


# ---------------------------------------------------------------- formulas
def test_faithfulness_is_the_share_of_supported_claims():
    assert faithfulness([claim("supported"), claim("unsupported"), claim("contradicted"),
                         claim("supported")]).score == 0.5
    assert faithfulness([claim("supported")]).score == 1.0


def test_no_claims_is_null_with_a_reason_not_zero():
    score = faithfulness([])
    assert score.score is None and score.reason == "no_claims"


@pytest.mark.parametrize(("useful", "expected"), [
    ([True, False, False], 1.0),
    ([False, True], 0.5),
    ([True, False, True], (1 + 2 / 3) / 2),
    ([False, False, True, True], (1 / 3 + 2 / 4) / 2),
    ([False, False], 0.0),
    ([], 0.0),
])
def test_average_precision(useful, expected):
    assert average_precision(useful) == pytest.approx(expected)


@given(st.lists(st.booleans(), max_size=30))
def test_context_precision_is_always_a_score_in_range(useful):
    value = context_precision(useful).score
    assert 0.0 <= value <= 1.0 and not math.isnan(value)


@given(st.lists(st.booleans(), min_size=1, max_size=30))
def test_moving_a_useful_context_up_never_lowers_precision(useful):
    if True in useful and useful.index(True) > 0:
        i = useful.index(True)
        better = useful.copy()
        better[i - 1], better[i] = better[i], better[i - 1]
        assert average_precision(better) >= average_precision(useful)


def test_context_recall_counts_attributable_statements():
    verdicts = [StatementVerdict(statement="a", attributable=True), StatementVerdict(statement="b", attributable=False)]
    assert context_recall(verdicts).score == 0.5
    assert context_recall([]).reason == "no_statements"


def test_answer_relevancy_is_mean_cosine_floored_at_zero():
    sims = cosine_similarities([1.0, 0.0], [[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert sims == pytest.approx([1.0, 0.0, -1.0])
    assert answer_relevancy(sims, noncommittal=False).score == 0.0
    assert answer_relevancy([0.9, 0.7], noncommittal=False).score == pytest.approx(0.8)
    assert answer_relevancy([0.9, 0.7], noncommittal=True).score == 0.0


def test_a_zero_vector_is_similar_to_nothing_rather_than_nan():
    assert cosine_similarities([0.0, 0.0], [[1.0, 0.0]]) == [0.0]


@given(st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
                min_size=3, max_size=3), st.lists(st.lists(st.floats(allow_nan=False, allow_infinity=False,
                                                                     min_value=-1e6, max_value=1e6),
                                                           min_size=3, max_size=3), min_size=1, max_size=4))
def test_answer_relevancy_is_never_nan(question, generated):
    value = answer_relevancy(cosine_similarities(question, generated), noncommittal=False).score
    assert 0.0 <= value <= 1.0


def test_a_score_cannot_be_nan_or_a_null_without_reason():
    with pytest.raises(ValidationError):
        MetricScore(score=float("nan"))
    with pytest.raises(ValidationError):
        MetricScore(score=None)
    with pytest.raises(ValidationError):
        MetricScore(score=1.5)


# ---------------------------------------------------------------- evidence
def test_quotes_match_regardless_of_case_whitespace_and_quote_style():
    contexts = [normalise("The tower was  completed\nin 1889. It’s 330 m tall.")]
    assert locate("the TOWER was completed in 1889", contexts) == 0
    assert locate("\"It's 330 m tall.\"", contexts) == 0
    assert locate("The tower ... in 1889", contexts) == 0
    assert locate("in 1889 ... The tower", contexts) is None
    assert locate("completed in 1890", contexts) is None
    assert locate("", contexts) is None


def test_a_claim_whose_quote_is_not_in_the_contexts_is_downgraded():
    contexts = ["Alpha.", "The tower was completed in 1889."]
    checked = check_claims([claim("supported", "completed in 1889"), claim("supported", "built in 1889"),
                            claim("contradicted", ""), claim("unsupported")], contexts)
    assert [c.verdict for c in checked] == ["supported", "unsupported", "unsupported", "unsupported"]
    assert checked[0].context_index == 1
    assert "not found" in checked[1].reason


# ---------------------------------------------------------------- gate
def scores(faith: float | None, reason: str | None = None, **others) -> dict[str, MetricScore]:
    result = {"faithfulness": MetricScore(score=faith, reason=reason)}
    result.update({k: MetricScore(score=v) for k, v in others.items()})
    return result


def test_gate_threshold_is_inclusive():
    assert apply_gate(scores(0.8), [], GateConfig(), 0.2).passed is True
    failed = apply_gate(scores(0.75), [claim("unsupported", text="x")], GateConfig(), 0.2)
    assert failed.passed is False and failed.hallucination_score == 0.25
    assert failed.unsupported_claims == ["x"]


def test_one_contradicted_claim_fails_the_answer_whatever_its_score():
    claims = [claim("supported", text="a"), claim("supported", text="b"), claim("contradicted", text="The river did "
                                                                                   "not flood in 2019.")]
    result = apply_gate(scores(0.9), claims, GateConfig(), 0.2)
    assert result.passed is False
    assert result.failed_rules == ['contradicted claim: "The river did not flood in 2019."']
    assert apply_gate(scores(0.9), claims, GateConfig(fail_on_contradiction=False), 0.2).passed is True
    # An unsupported claim (the contexts are silent) is left to the threshold.
    assert apply_gate(scores(0.9), [claim("unsupported", text="x")], GateConfig(), 0.2).passed is True


def test_gate_passes_a_refusal_and_says_why():
    result = apply_gate(scores(None, "no_claims"), [], GateConfig(), 0.2)
    assert result.passed is True and "no_claims" in result.notes[0]


def test_gate_minimums_and_judge_errors():
    config = GateConfig(min_scores={"context_recall": 0.5})
    assert apply_gate(scores(1.0, context_recall=0.4), [], config, 0.2).failed_rules == [
        "context_recall 0.400 < minimum 0.500"]
    assert apply_gate(scores(None, "judge_error"), [], GateConfig(), 0.2).passed is False
    assert apply_gate(scores(None, "judge_error"), [], GateConfig(on_error="allow"), 0.2).passed is True


# ---------------------------------------------------------------- samples and replies
def test_sample_accepts_ragas_and_classic_names():
    ragas = Sample.model_validate({"user_input": "q", "retrieved_contexts": ["c"], "response": "a",
                                   "reference": "r"})
    classic = Sample.model_validate({"question": "q", "contexts": ["c"], "answer": "a", "ground_truth": "r"})
    assert ragas == classic


def test_sample_rejects_a_string_where_a_list_of_contexts_belongs():
    with pytest.raises(ValidationError, match="list of strings"):
        Sample.model_validate({"question": "q", "contexts": "c", "answer": "a"})


def test_verify_reply_must_hold_one_verdict_per_claim():
    sample = Sample(user_input="q", retrieved_contexts=["c1", "c2"], response="a")
    parts = Decomposition(claims=["x", "y"])
    need = Needs(claims=True)
    counts = llm_replies.verify_counts(sample, parts, need)
    one = {"verdict": "Supported", "evidence": "c1", "context": 1, "reason": ""}
    with pytest.raises(ValueError, match="exactly 2"):
        llm_replies.parse_verification({"claims": [one]}, sample, parts, counts)
    parsed = llm_replies.parse_verification({"claims": [one, {**one, "context": 9}]}, sample, parts, counts)
    assert [c.verdict for c in parsed.claims] == ["supported", "supported"]
    assert [c.context_index for c in parsed.claims] == [0, None]


def test_prompts_ask_only_for_what_the_metrics_need():
    sample = Sample(user_input="q", retrieved_contexts=["c"], response="a", reference="r")
    need = Needs(context_verdicts=True)
    assert not need.decompose
    counts = llm_replies.verify_counts(sample, Decomposition(), need)
    schema = llm_replies.strict_schema(llm_replies.verify_reply(counts))
    assert list(schema["properties"]) == ["contexts"]
    text = prompts.verify_messages(sample, Decomposition(), need)[1]["content"]
    assert "REFERENCE ANSWER:\nr" in text and "CLAIMS" not in text


def test_the_reply_schema_sent_is_strict_and_comes_from_the_model_that_validates_the_reply():
    schema = llm_replies.strict_schema(llm_replies.verify_reply({"claims": 2}))
    claims = schema["properties"]["claims"]
    assert (claims["minItems"], claims["maxItems"]) == (2, 2)
    item = claims["items"]
    assert list(item["properties"]) == ["verdict", "evidence", "context", "reason"]
    assert item["required"] == list(item["properties"]) and item["additionalProperties"] is False
    assert item["properties"]["context"] == {"type": "integer"}
    assert "$ref" not in str(schema) and "$defs" not in schema
