"""The embedded judge: offline, no API key, same result shape as the LLM judge."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ragmeter.metrics import Sample, score_sample
from ragmeter.metrics.judges.embedded import text
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

CONTEXTS = [
    "The Oberoi family is an Indian family that is famous for its involvement in hotels, namely through "
    "The Oberoi Group.The Oberoi Group is a hotel company with its head office in Delhi.",
    "Berlin is the capital of Germany. Berlin has 3.7 million inhabitants.",
]
QUESTION = "The Oberoi family is part of a hotel company that has a head office in what city?"


@pytest.fixture(scope="module")
def judge():
    return EmbeddedJudge()


async def score(judge, response, reference=None, contexts=CONTEXTS, metrics=None, question=QUESTION):
    sample = Sample(user_input=question, retrieved_contexts=contexts, response=response, reference=reference)
    return await score_sample(sample, judge, metrics or ("faithfulness", "answer_relevancy",
                                                         "context_precision", "context_recall"))


async def test_a_grounded_answer_passes_with_a_verbatim_evidence_sentence(judge):
    result = await score(judge, "The Oberoi Group is a hotel company with its head office in Delhi.",
                         reference="Delhi. The Oberoi Group is a hotel company with its head office in Delhi.")
    assert result.judge.name == "embedded"
    assert result.scores.faithfulness == 1.0
    claim = result.details.faithfulness.claims[0]
    assert claim.verdict == "supported" and claim.probability > 0.5
    assert claim.evidence == "The Oberoi Group is a hotel company with its head office in Delhi."
    assert claim.context_index == 0
    assert result.gate.passed is True
    assert result.gate.threshold == judge.default_threshold
    assert result.scores.context_recall == 1.0
    assert result.scores.context_precision == 1.0
    assert [c.useful for c in result.details.context_precision.contexts] == [True, False]
    assert result.usage.chat_calls == 0 and result.errors == []


async def test_a_short_answer_is_judged_with_its_question(judge):
    right = await score(judge, "Delhi", metrics=["faithfulness"])
    wrong = await score(judge, "Mumbai", metrics=["faithfulness"])
    assert right.scores.faithfulness == 1.0 and right.gate.passed
    assert wrong.scores.faithfulness == 0.0 and not wrong.gate.passed


async def test_a_hallucinated_claim_is_unsupported_and_says_what_is_missing(judge):
    result = await score(judge, "The Oberoi family's hotel company is based in Mumbai.", metrics=["faithfulness"])
    claim = result.details.faithfulness.claims[0]
    assert claim.verdict == "unsupported"
    assert "mumbai" in claim.reason
    assert result.gate.passed is False
    assert result.gate.unsupported_claims == ["The Oberoi family's hotel company is based in Mumbai."]


async def test_a_changed_number_is_not_supported(judge):
    right = await score(judge, "Berlin has 3.7 million inhabitants.", metrics=["faithfulness"])
    wrong = await score(judge, "Berlin has 5.2 million inhabitants.", metrics=["faithfulness"])
    assert right.scores.faithfulness == 1.0
    assert wrong.scores.faithfulness == 0.0


async def test_a_refusal_is_noncommittal_with_no_claims(judge):
    result = await score(judge, "I don't know, the documents do not say.")
    assert result.scores.faithfulness is None and result.details.faithfulness.reason == "no_claims"
    assert result.scores.answer_relevancy == 0.0 and result.details.answer_relevancy.noncommittal
    assert result.gate.passed is True


async def test_answer_relevancy_orders_full_partial_off_topic(judge):
    question = "Were Scott Derrickson and Ed Wood of the same nationality?"
    contexts = ["Scott Derrickson is an American director.", "Ed Wood was an American filmmaker."]
    full = await score(judge, "Yes. Scott Derrickson is American and Ed Wood was American too.",
                       contexts=contexts, question=question, metrics=["answer_relevancy"])
    partial = await score(judge, "Scott Derrickson is an American director.", contexts=contexts,
                          question=question, metrics=["answer_relevancy"])
    off_topic = await score(judge, "Berlin is the capital of Germany.", contexts=contexts, question=question,
                            metrics=["answer_relevancy"])
    assert full.scores.answer_relevancy > partial.scores.answer_relevancy > off_topic.scores.answer_relevancy
    assert set(full.details.answer_relevancy.signals) >= {"similarity", "coverage", "answer_type"}


async def test_no_reference_means_no_recall_and_precision_against_the_answer(judge):
    result = await score(judge, "The Oberoi Group is a hotel company with its head office in Delhi.")
    assert result.details.context_recall.reason == "needs_reference"
    assert result.details.context_precision.basis == "response"
    assert result.scores.context_precision == 1.0


def test_sentences_split_glued_text_and_stay_verbatim():
    parts = text.sentences(CONTEXTS[0])
    assert parts[-1] == "The Oberoi Group is a hotel company with its head office in Delhi."
    assert all(p in CONTEXTS[0] for p in parts)
    assert text.sentences("Dr. Smith went to Washington D.C. on Jan. 5. He left.") == [
        "Dr. Smith went to Washington D.C. on Jan. 5.", "He left."]


def test_the_service_defaults_to_the_embedded_judge_without_an_api_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with TestClient(create_app(Settings())) as client:
        assert client.get("/readyz").status_code == 200
        response = client.post("/v1/evaluate", json={"samples": [{
            "question": QUESTION, "contexts": CONTEXTS, "answer": "The head office is in Mumbai.",
            "ground_truth": "Delhi."}]})
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["judge"]["name"] == "embedded"
    assert None not in [result["scores"][m] for m in ("faithfulness", "answer_relevancy", "context_precision",
                                                       "context_recall")]
    assert result["gate"]["passed"] is False
    assert result["details"]["faithfulness"]["claims"][0]["verdict"] == "unsupported"


# Cases written the way users write answers: rewordings pass, a changed fact does not, and an
# answer with nothing in it is not judged at all.
USER_CASES = [
    ("Built in 1889 for the World's Fair, the tower is 330 metres tall.",
     "The tower was built for the 1889 World's Fair.", "supported"),
    ("The vaccine was approved by regulators in March.", "Regulators approved the vaccine in March.", "supported"),
    ("Sales rose 12 percent to 4.1 billion dollars.", "Sales grew by 12% to $4.1bn.", "supported"),
    ("Mars has two small moons, Phobos and Deimos.", "The moons of Mars are: Phobos and Deimos.", "supported"),
    ("Aspirin is used to reduce fever.", "Aspirin is not used to reduce fever.", "contradicted"),
    ("Berlin is the capital of Germany. Berlin has 3.7 million inhabitants.",
     "Berlin is not the capital of Germany.", "contradicted"),
    ("Berlin is the capital of Germany. Berlin has 3.7 million inhabitants.",
     "Berlin has 4.2 million inhabitants.", "contradicted"),
    ("In 2016 Microsoft acquired LinkedIn for 26 billion dollars.", "LinkedIn acquired Microsoft in 2016.",
     "contradicted"),
    ("The Eiffel Tower is 330 metres tall and stands in Paris.",
     "The Eiffel Tower was designed by Gustave Eiffel's company.", "unsupported"),
    # Synonyms and word families (WordNet), light verbs, two sentences merged, units converted.
    ("Temperatures dropped sharply overnight, and roads became icy.",
     "Overnight the temperature fell steeply and the roads became icy.", "supported"),
    ("The board decided to expand the factory.", "The board made the decision to expand the factory.", "supported"),
    ("The bridge opened in 1932. It spans the harbour.", "The bridge, which spans the harbour, opened in 1932.",
     "supported"),
    ("The valley received 0.5 metres of snow in a single night.",
     "The valley received 50 cm of snow in a single night.", "supported"),
    ("The valley received 0.5 metres of snow in a single night.",
     "The valley received 50 km of snow in a single night.", "contradicted"),
    # Saying more than the contexts: a dropped limit, a universal for "most", negation turned around.
    ("Some residents opposed the new parking rules.", "Residents opposed the new parking rules.", "unsupported"),
    ("The drug lowered blood pressure in most patients within four weeks.",
     "The drug lowered blood pressure in all patients within four weeks.", "unsupported"),
    ("The firm plans to open a store in Oslo next year.", "The firm has opened a store in Oslo.", "unsupported"),
    ("The summit was held in Oslo, although early plans had placed it in Copenhagen.",
     "The summit was held in Copenhagen.", "contradicted"),
    ("Germany will host Spain in the opening match on Saturday.",
     "Spain will host Germany in the opening match on Saturday.", "contradicted"),
    ("Patients were able to return home on the same day, and none needed readmission.",
     "Patients were not able to return home on the same day.", "contradicted"),
    # A negation reaches to the end of its clause: one in a side clause denies nothing of the rest, and
    # "not X but Y" affirms Y. A short claim that denies its evidence is caught too.
    ("The mayor, who was not present at the meeting, later approved the plan.", "The mayor approved the plan.",
     "supported"),
    ("The mayor, who was not present at the meeting, later approved the plan.",
     "The mayor was not present at the meeting.", "supported"),
    ("The airline said the delay was not caused by the weather but by a staff shortage.",
     "The delay was caused by a staff shortage.", "supported"),
    ("The airline said the delay was not caused by the weather but by a staff shortage.",
     "The delay was not caused by a staff shortage.", "contradicted"),
    ("The museum reopened in May after a two-year renovation.", "The museum did not reopen in May.", "contradicted"),
    # An opposite under a negation says the same thing in other words; without the negation, the opposite.
    ("No, the bridge was not closed during the storm, officials said.", "The bridge was open during the storm.",
     "supported"),
    ("The test was not difficult for most students.", "The test was easy for most students.", "supported"),
    ("The bridge was closed during the storm.", "The bridge was not open during the storm.", "supported"),
    ("The bridge was not closed during the storm.", "The bridge was not open during the storm.", "contradicted"),
    # Both contrast one thing with another: which one each denies decides, whichever form each uses.
    ("The airline said the delay was not caused by the weather but by a staff shortage.",
     "A staff shortage caused the delay, not the weather.", "supported"),
    ("The fire was started by lightning, not by arson, investigators said.",
     "Investigators said arson, not lightning, started the fire.", "contradicted"),
    ("The fire was started by lightning, not by arson, investigators said.",
     "The fire was not started by lightning but by arson.", "contradicted"),
]


@pytest.mark.parametrize(("context", "answer", "verdict"), USER_CASES)
async def test_rewordings_pass_and_changed_facts_do_not(judge, context, answer, verdict):
    result = await score(judge, answer, contexts=[context], metrics=["faithfulness"], question="What about it?")
    assert [c.verdict for c in result.details.faithfulness.claims] == [verdict]
    assert result.gate.passed is (verdict == "supported")


@pytest.mark.parametrize("answer", ["N/A", "-", "???", "🙂"])
async def test_an_answer_without_content_has_no_claims(judge, answer):
    result = await score(judge, answer, metrics=["faithfulness"])
    assert result.scores.faithfulness is None and result.details.faithfulness.reason == "no_claims"


async def test_a_list_header_is_not_a_claim_of_its_own(judge):
    result = await score(judge, "The moons of Mars are:\n- Phobos\n- Deimos",
                         contexts=["Mars has two small moons, Phobos and Deimos."], metrics=["faithfulness"],
                         question="What are the moons of Mars?")
    assert [c.claim for c in result.details.faithfulness.claims] == ["Phobos", "Deimos"]  # markers left out
    assert result.gate.passed is True


async def test_a_faithful_french_answer_is_not_failed(judge):
    result = await score(judge, "La capitale de l'Allemagne est Berlin.", metrics=["faithfulness"],
                         contexts=["Berlin est la capitale de l'Allemagne depuis 1990."],
                         question="Quelle est la capitale de l'Allemagne ?")
    assert result.gate.passed is True


FRENCH = ["Le vaccin a été approuvé par les autorités sanitaires en mars 2021."]


async def test_a_reworded_answer_in_another_language_is_null_with_a_reason_not_failed(judge):
    result = await score(judge, "Les autorités sanitaires ont approuvé le vaccin en mars 2021.",
                         reference="Les autorités sanitaires ont approuvé le vaccin en mars 2021.",
                         metrics=["faithfulness", "context_recall"], contexts=FRENCH,
                         question="Quand le vaccin a-t-il été approuvé ?")
    assert result.scores.faithfulness is None
    assert result.details.faithfulness.reason == "unsupported_language"
    assert result.details.faithfulness.claims[0].abstained == "unsupported_language"
    assert result.details.context_recall.reason == "unsupported_language"
    assert result.gate.passed is True
    assert any("unsupported_language" in note for note in result.gate.notes)


async def test_a_terse_english_claim_without_function_words_is_still_judged(judge):
    # Names and noun phrases carry no function words of any language: they must not read as foreign.
    result = await score(judge, "Robert Erskine Childers DSC, Irish nationalist author", metrics=["faithfulness"],
                         question="Who wrote the novel?")
    claim = result.details.faithfulness.claims[0]
    assert claim.verdict == "unsupported" and claim.abstained is None
    assert result.gate.passed is False


async def test_a_changed_number_is_caught_in_any_language(judge):
    result = await score(judge, "Les autorités sanitaires ont approuvé le vaccin en mars 2019.",
                         metrics=["faithfulness"], contexts=FRENCH, question="Quand le vaccin a-t-il été approuvé ?")
    assert result.scores.faithfulness == 0.0
    assert result.gate.passed is False


def test_numbers_compare_by_value_whatever_their_format():
    assert text.number_mentions("Sales grew by 12% to $4.1bn.") == text.number_mentions(
        "Sales rose 12 percent to 4.1 billion dollars.")
    assert text.number_mentions("forty-two thousand seats") == [frozenset({"42000"})]
    assert text.number_mentions("3.7 million") != text.number_mentions("3.7 billion")
    # Fractions in words are amounts: half is 50%, and not a third.
    assert text.number_mentions("roughly half") != text.number_mentions("roughly a third")
    assert text.number_mentions("half of them")[0] & text.number_mentions("50% of them")[0]
    assert text.number_mentions("two-thirds of members") == text.number_mentions("two thirds of members")
    assert text.number_mentions("at half-time, in the third season") == []


def test_amounts_compare_by_size_across_units():
    def found(claim: str, context: str) -> bool:
        return all(m & text.numbers(context) for m in text.number_mentions(claim))

    assert found("50 cm of snow", "0.5 metres of snow") and found("0.5 metres of snow", "50 cm of snow")
    assert not found("50 km of snow", "50 cm of snow")
    assert found("The tower is 330 metres tall.", "The tower is 330 m tall.")
    assert found("It runs for 135 minutes.", "It runs for two hours and fifteen minutes.")
    assert found("two hours and fifteen minutes", "a running time of 135 minutes")
    assert found("It costs $9.99 a month.", "It costs 9 dollars and 99 cents per month.")
    assert found("20 kg", "20 kilograms") and not found("20 kg", "20 grams")
    assert found("The concert lasted 90 minutes.", "The concert lasted an hour and a half.")
    assert found("two and a half hours", "2.5 hours") and not found("3 hours", "two and a half hours")
    assert found("30 minutes", "half an hour")
    # A bare figure of the claim is still found beside its unit in the contexts.
    assert found("a height of 330", "330 metres tall")


class FixedEntailment:
    """A stand-in entailment head: the same probability for every pair, and a count of the pairs it read."""

    features = ("cov_all",)

    def __init__(self, value: float):
        self.value = value
        self.calls = 0

    def probability(self, claim, evidence, features):
        assert claim.ndim == 2 and evidence.ndim == 2 and features.shape == (1,)
        self.calls += 1
        return self.value


def _with_entailment(weight: float, probability: float):
    import dataclasses

    from ragmeter.metrics.judges.embedded.support import SupportModel

    model = dataclasses.replace(SupportModel.load(), entailment_weight=weight)
    fake = FixedEntailment(probability)
    return EmbeddedJudge(model=model, entailment=fake), fake


async def test_the_shipped_weights_do_not_consult_a_cross_encoder(judge):
    assert judge.model.entailment_weight == 0.0 and judge.entailment is None


BRIDGE = ["The Halden bridge reopened on Saturday after a six-month closure. Engineers replaced the cables. "
          "A bakery opened nearby."]


async def test_a_cross_encoder_reads_each_claim_with_its_best_passage_and_its_verdict_counts():
    trusting, fake = _with_entailment(1.0, 0.99)
    result = await score(trusting, "Crews swapped the bridge's wires.", contexts=BRIDGE, metrics=("faithfulness",),
                         question="What did engineers do?")
    assert fake.calls == 1 and any("Engineers replaced the cables." in p for p in trusting.tokens._items)
    assert result.details.faithfulness.claims[0].verdict == "supported"

    doubting, _ = _with_entailment(1.0, 0.01)
    result = await score(doubting, "The Halden bridge reopened on Saturday.", contexts=BRIDGE,
                         metrics=("faithfulness",), question="When did the bridge reopen?")
    assert result.details.faithfulness.claims[0].probability < 0.5


async def test_a_cross_encoder_cannot_excuse_a_number_the_contexts_lack():
    trusting, _ = _with_entailment(1.0, 0.99)
    result = await score(trusting, "The Halden bridge reopened after a nine-month closure.", contexts=BRIDGE,
                         metrics=("faithfulness",), question="When did the bridge reopen?")
    assert result.scores.faithfulness == 0.0


async def test_a_number_missing_from_the_contexts_fails_a_statement_whatever_the_learned_weights_say():
    import dataclasses

    import numpy as np

    from ragmeter.metrics.judges.embedded.support import FEATURES, SupportModel

    # Weights that call every claim supported: only the number rule can fail this one.
    sure = (np.zeros((len(FEATURES), 1)), np.zeros(1), np.zeros(1), 5.0)
    judge = EmbeddedJudge(model=dataclasses.replace(SupportModel.load(), networks=(sure,)))
    result = await score(judge, "Manchester City beat QPR 1-0 at Old Trafford on Sunday.", metrics=["faithfulness"],
                         contexts=["Aguero struck in injury time against QPR to win Manchester City the title. "
                                   "City play at Old Trafford on Sunday."],
                         question="What happened?")
    claim = result.details.faithfulness.claims[0]
    assert claim.verdict != "supported" and "number" in claim.reason
