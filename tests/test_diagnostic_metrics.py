"""#22's diagnostic metrics: answer correctness and RAGChecker's retriever/generator metrics, pinned by hand-made
verdict sets (what each number means), end to end through a literal-matching judge, and read the right way up
by the gate, CI rules, comparisons and the diagnosis."""
from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ragmeter.metrics import GateConfig, Sample, score_sample
from ragmeter.metrics.answer_correctness import factuality
from ragmeter.metrics.diagnosis import diagnose
from ragmeter.metrics.judgements import (ClaimVerdict, Comparison, Decomposition, EntailmentVerdict, JudgeError,
                                         StatementVerdict, Verification)
from ragmeter.metrics.metric import Judged
from ragmeter.metrics.registry import BY_NAME
from ragmeter.service.analysis.comparison import metric_change
from ragmeter.service.analysis.summary import summarise
from ragmeter.service.ci.baseline import paired_drop
from ragmeter.service.ci.rules import GateRules, check
from ragmeter.service.rows import ScoredRow
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, upload, wait_done

RAGCHECKER = ("overall_precision", "overall_recall", "overall_f1", "claim_recall", "retriever_context_precision",
              "context_utilization", "noise_sensitivity_relevant", "noise_sensitivity_irrelevant", "hallucination",
              "self_knowledge")
NEW = ("answer_correctness", *RAGCHECKER)
CONTEXTS = ["Chunk zero: the bridge opened in 1932.", "Chunk one: the bridge is painted red.",
            "Chunk two: the city has a zoo."]


def sample(contexts=CONTEXTS, reference="The bridge opened in 1932.") -> Sample:
    return Sample(user_input="When did the bridge open?", retrieved_contexts=list(contexts),
                  response="An answer.", reference=reference)


def verdicts(claims=(), statements=(), contexts=CONTEXTS, vectors=None) -> Judged:
    """claims: (text, supporting chunks, the reference entails it); statements: (text, chunks, the answer states it).
    An empty chunk list is an unsupported claim / an unattributable statement."""
    claim_verdicts = [ClaimVerdict(claim=t, verdict="supported" if chunks else "unsupported",
                                   evidence=contexts[chunks[0]] if chunks else "", contexts=list(chunks))
                      for t, chunks, _ in claims]
    statement_verdicts = [StatementVerdict(statement=t, attributable=bool(chunks),
                                           evidence=contexts[chunks[0]] if chunks else "", contexts=list(chunks))
                          for t, chunks, _ in statements]
    comparison = Comparison(claims=[EntailmentVerdict(text=t, entailed=ok) for t, _, ok in claims],
                            statements=[EntailmentVerdict(text=t, entailed=ok) for t, _, ok in statements])
    return Judged(Decomposition(claims=[c[0] for c in claims], statements=[s[0] for s in statements]),
                  Verification(claims=claim_verdicts, statements=statement_verdicts), None,
                  vectors, comparison)


def score(name: str, judged: Judged, of: Sample | None = None):
    return BY_NAME[name].evaluate(of or sample(), judged, True)


# ---------------------------------------------------------------- the retriever
def test_a_retriever_that_misses_the_needed_chunk_has_low_claim_recall_and_says_so():
    judged = verdicts(statements=[("opened 1932", [0], True), ("designed by Strauss", [], False)])
    assert score("claim_recall", judged).score == 0.5
    assert score("claim_recall", judged).counted == ["opened 1932"]
    assert "retriever misses 50% of the reference's claims" in diagnose({"claim_recall": 0.5})


def test_retriever_context_precision_is_the_share_of_chunks_holding_a_reference_statement():
    judged = verdicts(statements=[("opened 1932", [0], True), ("red", [1], False)])
    assert score("retriever_context_precision", judged).score == pytest.approx(2 / 3)
    assert score("retriever_context_precision", judged).counted == ["context 0", "context 1"]


def test_a_statement_held_by_two_chunks_counts_once_for_recall_and_makes_both_chunks_relevant():
    judged = verdicts(statements=[("opened 1932", [0, 1], True)])
    assert score("claim_recall", judged).score == 1.0
    assert score("retriever_context_precision", judged).score == pytest.approx(2 / 3)


def test_claim_recall_counts_the_same_statements_as_context_recall():
    judged = verdicts(statements=[("a", [0], True), ("b", [], True), ("c", [2], False)])
    assert score("claim_recall", judged).score == score("context_recall", judged).score == pytest.approx(2 / 3)


# ---------------------------------------------------------------- the generator
def test_a_generator_that_ignores_the_right_chunk_has_zero_context_utilization():
    judged = verdicts(claims=[("the zoo exists", [2], False)], statements=[("opened 1932", [0], False)])
    assert score("claim_recall", judged).score == 1.0  # the retriever did its part
    assert score("context_utilization", judged).score == 0.0
    assert "generator ignores 100% of the reference's claims that the chunks hold" in diagnose(
        {"claim_recall": 1.0, "context_utilization": 0.0})


def test_context_utilization_reads_only_the_statements_some_chunk_holds():
    judged = verdicts(statements=[("a", [0], True), ("b", [1], False), ("c", [], True)])
    assert score("context_utilization", judged).score == 0.5


def test_a_wrong_claim_copied_from_an_irrelevant_chunk_is_irrelevant_noise_sensitivity():
    judged = verdicts(claims=[("opened 1932", [0], True), ("the zoo opened in 1932", [2], False)],
                      statements=[("opened 1932", [0], True)])
    assert score("noise_sensitivity_irrelevant", judged).score == 0.5
    assert score("noise_sensitivity_irrelevant", judged).counted == ["the zoo opened in 1932"]
    assert score("noise_sensitivity_relevant", judged).score == 0.0
    assert score("hallucination", judged).score == 0.0  # it is in a chunk: copied, not made up


def test_a_wrong_claim_copied_from_a_relevant_chunk_is_relevant_noise_sensitivity():
    judged = verdicts(claims=[("opened 1932", [0], True), ("it is blue", [0], False)],
                      statements=[("opened 1932", [0], True)])
    assert score("noise_sensitivity_relevant", judged).score == 0.5
    assert score("noise_sensitivity_irrelevant", judged).score == 0.0


def test_a_wrong_claim_in_both_a_relevant_and_an_irrelevant_chunk_counts_as_relevant_only():
    judged = verdicts(claims=[("wrong", [0, 2], False)], statements=[("opened 1932", [0], True)])
    assert score("noise_sensitivity_relevant", judged).score == 1.0
    assert score("noise_sensitivity_irrelevant", judged).score == 0.0


def test_a_right_answer_from_the_models_own_knowledge_is_self_knowledge_not_hallucination():
    judged = verdicts(claims=[("opened 1932", [], True)], statements=[("opened 1932", [], True)])
    assert score("self_knowledge", judged).score == 1.0
    assert score("hallucination", judged).score == 0.0
    assert score("faithfulness", judged).score == 0.0
    assert score("overall_precision", judged).score == 1.0
    assert "answer uses its own knowledge for 100% of claims" in diagnose({"self_knowledge": 1.0})


def test_a_made_up_wrong_claim_is_hallucination():
    judged = verdicts(claims=[("opened 1932", [0], True), ("it cost a billion", [], False)],
                      statements=[("opened 1932", [0], True)])
    assert score("hallucination", judged).score == 0.5
    assert score("hallucination", judged).counted == ["it cost a billion"]
    assert score("self_knowledge", judged).score == 0.0


def test_a_claim_whose_quote_is_not_in_the_contexts_is_unfaithful_as_for_faithfulness():
    judged = verdicts(claims=[("opened 1932", [0], False)], statements=[("x", [0], True)])
    judged.verdicts.claims[0].evidence = "a quote that no chunk holds"
    assert score("faithfulness", judged).score == 0.0
    assert score("hallucination", judged).score == 1.0


claim_sets = st.lists(st.tuples(st.just("c"), st.lists(st.integers(0, 2), max_size=3, unique=True), st.booleans()),
                      min_size=1, max_size=8)


@settings(max_examples=60, deadline=None)
@given(claims=claim_sets, statements=claim_sets)
def test_faithfulness_hallucination_and_self_knowledge_add_up_to_one(claims, statements):
    judged = verdicts(claims=[(f"claim {i}", c, ok) for i, (_, c, ok) in enumerate(claims)],
                      statements=[(f"statement {i}", c, ok) for i, (_, c, ok) in enumerate(statements)])
    parts = [score(name, judged).score for name in ("faithfulness", "hallucination", "self_knowledge")]
    assert math.fsum(parts) == pytest.approx(1.0)
    relevant, irrelevant = (score(n, judged).score for n in ("noise_sensitivity_relevant",
                                                             "noise_sensitivity_irrelevant"))
    # Noise sensitivity counts wrong claims found in a chunk: with hallucination, every wrong claim once.
    wrong = sum(not ok for _, _, ok in claims) / len(claims)
    assert relevant + irrelevant + parts[1] == pytest.approx(wrong)


# ---------------------------------------------------------------- overall precision, recall, F1
def test_overall_precision_recall_and_f1():
    judged = verdicts(claims=[("a", [0], True), ("b", [0], True), ("c", [], False), ("d", [], True)],
                      statements=[("a", [0], True), ("x", [], False)])
    assert score("overall_precision", judged).score == 0.75
    assert score("overall_recall", judged).score == 0.5
    assert score("overall_f1", judged).score == pytest.approx(2 * 0.75 * 0.5 / 1.25)


def test_overall_f1_is_zero_when_nothing_the_answer_says_is_right():
    judged = verdicts(claims=[("wrong", [], False)], statements=[("right", [0], False)])
    f1 = score("overall_f1", judged)
    assert f1.score == 0.0 and f1.precision == 0.0 and f1.recall == 0.0


# ---------------------------------------------------------------- answer correctness
def test_answer_correctness_blends_three_quarters_statement_f1_with_one_quarter_similarity():
    judged = verdicts(claims=[("right", [], True), ("wrong", [], False)],
                      statements=[("right", [], True), ("missed", [], False)],
                      vectors={"The bridge opened in 1932.": [1.0, 0.0], "An answer.": [1.0, 0.0]})
    detail = score("answer_correctness", judged)
    assert detail.factuality == 0.5  # TP 1 / (1 + 0.5 (FP 1 + FN 1))
    assert detail.similarity == 1.0
    assert detail.score == pytest.approx(0.75 * 0.5 + 0.25 * 1.0)
    assert (detail.true_positives, detail.false_positives, detail.false_negatives) == (["right"], ["wrong"],
                                                                                       ["missed"])


def test_answer_correctness_without_a_true_positive_keeps_only_the_similarity_part():
    judged = verdicts(claims=[("wrong", [], False)], statements=[("right", [], False)],
                      vectors={"The bridge opened in 1932.": [1.0, 0.0], "An answer.": [0.6, 0.8]})
    detail = score("answer_correctness", judged)
    assert detail.factuality == 0.0 and detail.score == pytest.approx(0.25 * 0.6)


def test_answer_correctness_factuality_edge_cases_follow_ragas():
    assert factuality(0, 0, 0) == 1.0  # ragas: nothing on either side scores 1
    assert factuality(0, 3, 2) == 0.0
    assert factuality(2, 0, 0) == 1.0
    assert factuality(1, 2, 0) == pytest.approx(0.5)


def test_answer_correctness_floors_a_negative_similarity_at_zero():
    judged = verdicts(claims=[("right", [], True)], statements=[("right", [], True)],
                      vectors={"The bridge opened in 1932.": [1.0, 0.0], "An answer.": [-1.0, 0.0]})
    assert score("answer_correctness", judged).score == pytest.approx(0.75)


# ---------------------------------------------------------------- null, with a reason
def test_without_a_reference_every_new_metric_is_null_with_needs_reference():
    of = sample(reference=None)
    for name in NEW:
        assert BY_NAME[name].evaluate(of, verdicts(), True).reason == "needs_reference", name


def test_without_contexts_the_retriever_and_generator_metrics_need_them_and_overall_ones_do_not():
    of = sample(contexts=[])
    judged = verdicts(claims=[("a", [], True)], statements=[("a", [], True)])
    for name in ("claim_recall", "retriever_context_precision", "context_utilization", "hallucination"):
        assert BY_NAME[name].evaluate(of, judged, True).reason == "needs_contexts", name
    assert BY_NAME["overall_precision"].evaluate(of, judged, True).score == 1.0


def test_an_answer_without_claims_is_null_with_no_claims():
    judged = verdicts(statements=[("a", [0], True)])
    for name in ("overall_precision", "overall_f1", "hallucination", "self_knowledge", "noise_sensitivity_relevant"):
        assert score(name, judged).reason == "no_claims", name


def test_a_reference_without_statements_is_null_with_no_statements():
    judged = verdicts(claims=[("a", [0], True)])
    for name in ("overall_recall", "claim_recall", "retriever_context_precision", "context_utilization",
                 "noise_sensitivity_irrelevant"):
        assert score(name, judged).reason == "no_statements", name


def test_context_utilization_without_any_reference_statement_in_the_chunks_is_null_not_zero():
    judged = verdicts(statements=[("a", [], True), ("b", [], False)])
    assert score("context_utilization", judged).reason == "no_statement_in_contexts"


def test_a_supported_verdict_without_its_chunks_is_null_with_no_chunk_support():
    judged = verdicts(claims=[("a", [0], False)], statements=[("a", [0], True)])
    judged.verdicts.statements[0].contexts = None
    assert score("claim_recall", judged).reason == "no_chunk_support"
    assert score("hallucination", judged).score == 0.0  # it reads no chunk indices


def test_an_abstained_comparison_nulls_the_metrics_that_read_it():
    judged = verdicts(claims=[("a", [0], True)], statements=[("a", [0], True)])
    judged.compared.claims[0].abstained = "unsupported_language"
    assert score("overall_precision", judged).reason == "unsupported_language"
    assert score("hallucination", judged).reason == "unsupported_language"
    assert score("overall_recall", judged).score == 1.0


# ---------------------------------------------------------------- end to end, through score_sample
class LiteralJudge(StubJudge):
    """Sentences are the claims and statements; a chunk supports one when it holds it word for word."""

    def __init__(self, fail_compare: bool = False):
        super().__init__()
        self.fail_compare = fail_compare

    async def decompose(self, sample, need, usage):
        def sentences(text):
            return [s.strip() + "." for s in (text or "").split(".") if s.strip()]
        return Decomposition(claims=sentences(sample.response), statements=sentences(sample.reference))

    async def verify(self, sample, parts, need, usage):
        contexts = sample.retrieved_contexts

        def holding(text):
            return [i for i, c in enumerate(contexts) if text in c]
        return Verification(
            claims=[ClaimVerdict(claim=c, verdict="supported" if holding(c) else "unsupported",
                                 evidence=c if holding(c) else "", contexts=holding(c)) for c in parts.claims],
            statements=[StatementVerdict(statement=s, attributable=bool(holding(s)), evidence=s if holding(s) else "",
                                         contexts=holding(s)) for s in parts.statements])

    async def compare(self, sample, parts, usage):
        if self.fail_compare:
            raise JudgeError("compare", "timeout", "the judge did not answer")
        return await super().compare(sample, parts, usage)


E2E = Sample(user_input="When did the bridge open?",
             retrieved_contexts=["The bridge opened in 1932.", "The zoo opened in 1950."],
             response="The bridge opened in 1932. The zoo opened in 1950. It cost a billion.",
             reference="The bridge opened in 1932. It is red.")


async def test_end_to_end_the_scores_follow_the_judges_literal_verdicts():
    result = await score_sample(E2E, LiteralJudge(), list(NEW) + ["faithfulness"])
    s = result.scores
    assert (s.overall_precision, s.overall_recall) == (pytest.approx(1 / 3), 0.5)
    assert (s.claim_recall, s.retriever_context_precision, s.context_utilization) == (0.5, 0.5, 1.0)
    assert s.noise_sensitivity_irrelevant == pytest.approx(1 / 3)  # the zoo, from the chunk about the zoo
    assert s.hallucination == pytest.approx(1 / 3) and s.self_knowledge == 0.0  # "It cost a billion."
    assert s.faithfulness == pytest.approx(2 / 3)
    assert result.details.hallucination.counted == ["It cost a billion."]
    assert result.diagnosis == [  # docs/metrics.md's worked example
        "retriever misses 50% of the reference's claims",
        "generator repeats wrong claims from irrelevant chunks (noise sensitivity 0.33)",
        "generator makes up 33% of its claims (in no chunk, and wrong)",
        "67% of the answer's claims are not in the reference", "answer gives only 50% of the reference's claims"]


async def test_a_failed_comparison_call_nulls_only_the_metrics_that_read_it():
    result = await score_sample(E2E, LiteralJudge(fail_compare=True), list(NEW))
    assert result.details.overall_precision.reason == "judge_error"
    assert result.details.hallucination.reason == "judge_error"
    assert result.scores.claim_recall == 0.5
    assert any(e.stage == "compare" for e in result.errors)


async def test_the_new_metrics_are_opt_in_and_no_diagnosis_without_them():
    result = await score_sample(E2E, LiteralJudge())
    assert all(getattr(result.details, name).reason == "not_requested" for name in NEW)
    assert result.diagnosis is None


def test_diagnosis_is_empty_when_nothing_stands_out():
    assert diagnose({"claim_recall": 1.0, "hallucination": 0.0, "self_knowledge": 0.0}) == []
    assert diagnose({"faithfulness": 0.1}) is None


# ---------------------------------------------------------------- the direction: lower is better
def test_the_rates_of_something_bad_are_lower_is_better_and_the_api_lists_it():
    lower = {m for m in BY_NAME.values() if m.better == "lower"}
    assert {m.name for m in lower} == {"hallucination", "self_knowledge", "noise_sensitivity_relevant",
                                       "noise_sensitivity_irrelevant"}
    with TestClient(create_app(Settings(), judge=StubJudge())) as client:
        listed = {m["name"]: m for m in client.get("/v1/metrics").json()}
    assert listed["hallucination"]["better"] == "lower" and listed["claim_recall"]["better"] == "higher"
    assert "faithfulness" in listed["hallucination"]["definition"]


async def test_the_gate_fails_an_answer_above_a_maximum_and_refuses_a_minimum_on_a_lower_metric():
    result = await score_sample(E2E, LiteralJudge(), ["faithfulness"], gate=GateConfig(
        threshold=1.0, max_scores={"hallucination": 0.2}))
    assert any(r.startswith("hallucination 0.333 > maximum 0.200") for r in result.gate.failed_rules)
    with pytest.raises(ValidationError, match="lower-is-better"):
        GateConfig(min_scores={"hallucination": 0.1})
    with pytest.raises(ValidationError, match="higher-is-better"):
        GateConfig(max_scores={"faithfulness": 0.9})


def test_the_api_answers_a_minimum_on_hallucination_with_a_422_saying_why():
    with TestClient(create_app(Settings(), judge=StubJudge())) as client:
        response = client.post("/v1/evaluate", json={"samples": [E2E.model_dump()],
                                                      "gate": {"min_scores": {"hallucination": 0.1}}})
    assert response.status_code == 422
    assert "give it a maximum" in response.text


def rows_with(metric: str, values: list[float]) -> list[ScoredRow]:
    return [ScoredRow(row=i + 1, id=f"r{i}", **{metric: v}) for i, v in enumerate(values)]


def test_ci_max_rules_fail_a_high_hallucination_and_min_rules_on_it_are_refused():
    results = check(rows_with("hallucination", [0.0, 0.5, 0.4]), GateRules(max_mean={"hallucination": 0.2},
                                                                           max_sample={"hallucination": 0.45}))
    by_name = {r.name: r for r in results}
    assert not by_name["max_mean.hallucination"].passed and by_name["max_mean.hallucination"].actual == 0.3
    assert not by_name["max_sample.hallucination"].passed
    assert [r.id for r in by_name["max_sample.hallucination"].failing_samples] == ["r1"]
    assert "hallucination" in GateRules(max_mean={"hallucination": 0.2}).scored_metrics
    with pytest.raises(ValidationError, match="lower-is-better"):
        GateRules(min_mean={"hallucination": 0.1})


def test_a_rise_in_hallucination_is_worse_in_comparisons_and_a_regression_in_the_gate():
    before = np.full(40, 0.05)
    after = before + np.linspace(0.2, 0.4, 40)
    pairs = np.column_stack([before, after])
    change = metric_change("hallucination", pairs)
    assert change.verdict == "worse" and change.better == "lower" and change.rows_worse == 40
    assert metric_change("faithfulness", pairs).verdict == "better"
    regression = paired_drop("hallucination", pairs, 0.02)
    assert regression.regressed and regression.drop == pytest.approx(0.3) and "rose" in regression.verdict


def test_the_batch_summary_diagnoses_from_the_means():
    rows = [ScoredRow(row=i + 1, claim_recall=v, hallucination=0.3) for i, v in enumerate([0.4, 0.6])]
    summary = summarise(rows, resamples=100)
    assert summary.diagnosis == ["retriever misses 50% of the reference's claims",
                                 "generator makes up 30% of its claims (in no chunk, and wrong)"]


def test_a_batch_shows_the_new_metrics_in_csv_summary_and_report_with_its_diagnosis():
    data = [{"id": f"r{i}", "question": "When did the bridge open?", "contexts": E2E.retrieved_contexts,
             "answer": E2E.response, "reference": E2E.reference} for i in range(3)]
    with TestClient(create_app(Settings(), judge=LiteralJudge())) as client:
        batch = upload(client, as_file(data, "jsonl"), "set.jsonl", metrics=",".join(NEW)).json()
        assert wait_done(client, batch["id"])["status"] == "done"
        csv = pd.read_csv(io.BytesIO(client.get(f"/v1/batches/{batch['id']}/results?format=csv").content))
        summary = client.get(f"/v1/batches/{batch['id']}/summary").json()
        report = client.get(f"/v1/batches/{batch['id']}/report").text
    assert list(csv["claim_recall"]) == [0.5] * 3
    assert summary["metrics"]["hallucination"]["mean"] == pytest.approx(1 / 3, abs=1e-3)
    assert "retriever misses 50% of the reference's claims" in summary["diagnosis"]
    assert 'id="diagnosis"' in report and "retriever misses 50%" in report
    assert 'data-metric="noise_sensitivity_irrelevant"' in report and "(lower is better)" in report


def test_ragmeter_score_prints_the_diagnosis_under_its_table_only_when_there_is_one(capsys):
    from ragmeter.service.cli.score import print_diagnosis

    print_diagnosis([ScoredRow(row=1, claim_recall=0.4), ScoredRow(row=2, claim_recall=0.6)])
    assert "diagnosis: retriever misses 50% of the reference's claims" in capsys.readouterr().out
    print_diagnosis([ScoredRow(row=1, faithfulness=0.5)])
    assert capsys.readouterr().out == ""
