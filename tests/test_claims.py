"""How the embedded judge cuts an answer into claims: joined facts apart, pronouns read as what they stand for."""
from __future__ import annotations

from ragmeter.metrics.judges.embedded.claims import claim_texts, split_joined, subject_of
from ragmeter.metrics.judges.embedded.contexts import build_index
from ragmeter.metrics.judges.embedded.judge import split_claims


def test_a_sentence_that_joins_two_facts_becomes_two_claims_with_the_subject_repeated():
    assert split_claims("The tower was completed in 1889 and is 330 metres tall.") == [
        "The tower was completed in 1889.", "The tower is 330 metres tall."]
    assert split_joined("The new bridge opened in May and carried 40,000 cars.") == [
        "The new bridge opened in May.", "The new bridge carried 40,000 cars."]


def test_a_list_or_a_pair_of_adjectives_stays_one_claim():
    for sentence in ("Cats and dogs are pets.", "He was tired and hungry.",
                     "The company reported revenue and profit."):
        assert split_claims(sentence) == [sentence]


def test_a_leading_pronoun_is_matched_as_the_previous_subject_but_shown_as_written():
    claims = claim_texts(["The Eiffel Tower was completed in 1889.", "It is 330 metres tall.",
                          "Its base is 125 metres wide."])
    assert [c.text for c in claims][1:] == ["It is 330 metres tall.", "Its base is 125 metres wide."]
    assert claims[1].resolved == "The Eiffel Tower is 330 metres tall."
    assert claims[2].resolved == "The Eiffel Tower's base is 125 metres wide."
    assert subject_of("It is tall.") is None


def test_a_context_sentence_opening_with_a_pronoun_is_indexed_under_its_subject_and_quoted_as_written():
    index = build_index("The Eiffel Tower was completed in 1889. It is 330 metres tall.")
    assert index.sentences[1] == "It is 330 metres tall."
    assert index.probes[1] == "The Eiffel Tower is 330 metres tall."
    assert "eiffel" in index.keys[1]


def test_a_list_items_number_is_not_a_figure_of_its_claim():
    # "1. The tower is 330 metres tall." holds no "1" the contexts must hold
    from ragmeter.metrics.judges.embedded.judge import split_claims

    answer = "Facts:\n1. The tower is 330 metres tall.\n2) It was designed by Eiffel's company.\n- It opened in 1889."
    assert split_claims(answer) == ["The tower is 330 metres tall.", "It was designed by Eiffel's company.",
                                    "It opened in 1889."]
    assert split_claims("A. Smith wrote it in 1889.") == ["A. Smith wrote it in 1889."]  # an initial stays
