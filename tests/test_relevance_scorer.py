"""The embedded judge's answer relevancy: similarity, coverage, answer type and hedging, on the real encoder."""
from __future__ import annotations

import pytest

from ragmeter.metrics.judges.embedded.encoder import Encoder
from ragmeter.metrics.judges.embedded.relevance import WEIGHTS, answer_type, coverage, estimate

QUESTION = "How many inhabitants does Berlin have?"
ANSWER = "Berlin has 3.7 million inhabitants."


@pytest.fixture(scope="module")
def encode():
    return Encoder.load().encode


def test_a_full_direct_answer_beats_an_off_topic_one(encode):
    full = estimate(encode, QUESTION, ANSWER, noncommittal=False)
    off_topic = estimate(encode, QUESTION, "Paris is known for its cuisine and fashion.", noncommittal=False)
    assert full.estimate >= 0.8 and off_topic.estimate <= 0.2
    assert full.signals["similarity"] > off_topic.signals["similarity"]
    assert (full.signals["answer_type"], off_topic.signals["answer_type"]) == (1.0, 0.0)
    assert not full.noncommittal and not off_topic.noncommittal


def test_a_noncommittal_answer_scores_zero(encode):
    result = estimate(encode, QUESTION, "I don't know.", noncommittal=True)
    assert (result.noncommittal, result.estimate, result.signals["evasion"]) == (True, 0.0, 1.0)


def test_hedging_a_real_answer_costs_a_quarter(encode):
    plain = estimate(encode, QUESTION, ANSWER, noncommittal=False)
    hedged = estimate(encode, QUESTION, ANSWER + " But I'm not sure.", noncommittal=False)
    assert (plain.signals["evasion"], hedged.signals["evasion"]) == (0.0, 1.0)
    assert hedged.estimate < plain.estimate
    assert hedged.estimate == pytest.approx(0.75 * plain.estimate, abs=1e-3)


@pytest.mark.parametrize(("question", "answer"), [
    (QUESTION, ANSWER),
    (QUESTION, "3.7 million"),
    ("Who designed the Eiffel Tower?", "Gustave Eiffel's company designed it."),
    ("Is Berlin the capital of Germany?", "Yes."),
    ("Why is the sky blue?", "Bananas are yellow. Trains run late. Cats sleep a lot."),
    ("What?", "Something."),
])
def test_the_estimate_is_within_0_and_1_with_its_signals(encode, question, answer):
    result = estimate(encode, question, answer, noncommittal=False)
    assert 0.0 <= result.estimate <= 1.0
    assert set(result.signals) == set(WEIGHTS) | {"evasion"}
    assert all(0.0 <= v <= 1.0 for v in result.signals.values())


def test_a_bare_answer_of_the_asked_kind_counts_as_covering_the_question(encode):
    result = estimate(encode, QUESTION, "3.7 million", noncommittal=False)
    assert (result.signals["coverage"], result.signals["answer_type"]) == (1.0, 1.0)


@pytest.mark.parametrize(("question", "answer", "expected"), [
    ("How many inhabitants does Berlin have?", "3.7 million", 1.0),
    ("How many inhabitants does Berlin have?", "Three million people.", 1.0),
    ("How many inhabitants does Berlin have?", "Quite a lot of people.", 0.0),
    ("How old is the Eiffel Tower?", "It opened long ago.", 0.0),
    ("When was the tower completed?", "In 1889.", 1.0),
    ("When was the tower completed?", "After a while.", 0.3),
    ("Who designed the tower?", "Gustave Eiffel", 1.0),
    ("Is Berlin the capital of Germany?", "Yes", 1.0),
    ("Is Berlin the capital of Germany?", "Maybe", 0.5),
])
def test_answer_type_checks_the_answer_carries_what_is_asked(question, answer, expected):
    assert answer_type(question, answer) == expected


def test_coverage_counts_the_questions_names_twice_and_its_words_once():
    question = "Where did Marie Curie teach physics?"  # names marie, curie; words teach, physic: 2*2 + 2 = 6
    assert coverage(question, "Marie Curie lectured on physics.") == pytest.approx(5 / 6)
    assert coverage(question, "Marie Curie teaches physics in Paris.") == 1.0
    assert coverage(question, "Curie was there.") == pytest.approx(2 / 6)
    assert coverage(question, "She liked physics.") == pytest.approx(1 / 6)
    assert coverage(question, "Bananas are yellow.") == 0.0
    assert coverage("Why?", "Because.") == 1.0


def test_answering_one_part_of_a_two_part_question_scores_clearly_below_answering_both(encode):
    question = "Where was Marie Curie born, and which Nobel Prizes did she win?"
    both_reworded = estimate(encode, question, "Curie was a native of Warsaw, and she received Nobel "
                                                       "Prizes in physics (1903) and chemistry (1911).", False)
    one_copied = estimate(encode, question, "Marie Curie was born in Warsaw in 1867.", False)
    assert both_reworded.estimate - one_copied.estimate >= 0.2
    assert one_copied.signals["parts"] == 0.5 and both_reworded.signals["parts"] == 1.0
