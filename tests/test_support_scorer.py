"""The embedded judge's support scorer: claim features, P(supported) with its evidence, the weights file check."""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragmeter.metrics.judges.embedded.contexts import ContextStore, build_index
from ragmeter.metrics.judges.embedded.encoder import Encoder
from ragmeter.metrics.judges.embedded.support import (FEATURES, WEIGHTS_FILE, Claim, SupportModel, claim_features,
                                                      score_claim)

CONTEXTS = [
    "The Eiffel Tower is in Paris. It was completed in 1889 for the World's Fair. The tower is 330 metres tall.",
    "Berlin is the capital of Germany. Berlin has 3.7 million inhabitants.",
]


@pytest.fixture(scope="module")
def store():
    return ContextStore(Encoder.load())


@pytest.fixture(scope="module")
def model():
    return SupportModel.load()


def support(store, model, claim: str, probe: str | None = None):
    contexts = store.index(CONTEXTS)
    parsed = Claim.of(claim, probe)
    store.embed([parsed], contexts)
    return score_claim(model, parsed, contexts)


def test_a_claim_reads_its_numbers_names_and_negation():
    claim = Claim.of("The Oberoi Group did not open 1,200 hotels in Delhi.")
    assert claim.numbers == {"1200"} and {"oberoi", "delhi"} <= claim.names and claim.negated
    assert claim.probe == claim.text and not Claim.of("The Oberoi Group opened hotels.").negated
    assert Claim.of("Delhi", "Where is its head office? Delhi").probe == "Where is its head office? Delhi"


@pytest.mark.parametrize(("claim", "context", "sentence"), [
    ("It was completed in 1889 for the World's Fair.", 0, "It was completed in 1889 for the World's Fair."),
    ("Berlin has 3.7 million inhabitants.", 1, "Berlin has 3.7 million inhabitants."),
])
def test_a_quoted_claim_is_supported_by_the_sentence_it_quotes(store, model, claim, context, sentence):
    found = support(store, model, claim)
    assert found.probability >= model.claim_cutoff
    assert (found.context_index, found.evidence) == (context, sentence)
    assert found.features["sim_max"] == 1.0 and found.missing == []


def test_a_claim_about_something_absent_is_unsupported_and_says_what_is_missing(store, model):
    found = support(store, model, "The Sydney Opera House hosts ballet performances.")
    assert found.probability < model.claim_cutoff and found.probability <= 0.05
    assert found.features["cov_all"] == 0.0
    assert {"sydney", "opera", "ballet"} <= set(found.missing)


def test_a_changed_number_fails_the_numbers_check(store, model):
    found = support(store, model, "The tower is 450 metres tall.")
    assert found.features["numbers_ok"] == 0.0
    assert found.evidence == "The tower is 330 metres tall."
    assert found.probability < model.claim_cutoff
    assert support(store, model, "The tower is 330 metres tall.").features["numbers_ok"] == 1.0


def test_a_negated_claim_clashes_with_an_affirmative_sentence(store, model):
    found = support(store, model, "Berlin is not the capital of Germany.")
    assert found.evidence == "Berlin is the capital of Germany."
    assert found.features["negation_clash"] == 1.0
    assert support(store, model, "Berlin is the capital of Germany.").features["negation_clash"] == 0.0


CLAIMS = [
    "It was completed in 1889 for the World's Fair.",
    "The Eiffel Tower was finished in 1889.",
    "Paris",
    "It is what it is.",
    "Berlin is not the capital of Germany.",
    "The Sydney Opera House hosts 42 ballet performances in New South Wales.",
    " ".join(["The tower in Paris is tall and old and made of iron"] * 5),
]


@pytest.mark.parametrize("claim", CLAIMS)
def test_every_feature_is_finite_and_within_0_and_1(store, model, claim):
    contexts = store.index(CONTEXTS)
    parsed = Claim.of(claim)
    store.embed([parsed], contexts)
    features, ctx, sentence, _ = claim_features(parsed, contexts)
    assert tuple(features) == FEATURES
    assert all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in features.values()), features
    assert contexts[ctx].sentences[sentence]
    assert 0.0 <= score_claim(model, parsed, contexts).probability <= 1.0


def test_a_context_is_split_into_sentences_and_indexed_once(store):
    index = build_index(CONTEXTS[1] + "It is not in France.")
    assert index.sentences == ["Berlin is the capital of Germany.", "Berlin has 3.7 million inhabitants.",
                               "It is not in France."]
    assert index.numbers == {"3.7", "3700000"}
    first, again = store.index(CONTEXTS), store.index(list(reversed(CONTEXTS)))
    assert again[0] is first[1] and again[1] is first[0]


def test_no_contexts_means_no_support_and_no_evidence(model):
    found = score_claim(model, Claim.of("Berlin is the capital of Germany."), [])
    assert (found.probability, found.context_index, found.evidence) == (0.0, None, "")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=len(FEATURES), max_size=len(FEATURES)))
def test_the_probability_is_within_0_and_1(model, values):
    p = model.probability(dict(zip(FEATURES, values, strict=True)))
    assert math.isfinite(p) and 0.0 <= p <= 1.0


@pytest.mark.parametrize("change", [
    lambda f: f[:-1],
    lambda f: f[:-1] + ["length_in_tokens"],
    lambda f: [f[1], f[0], *f[2:]],
])
def test_a_weights_file_trained_on_other_features_is_refused(tmp_path, change):
    data = json.loads(WEIGHTS_FILE.read_text())
    same = tmp_path / "same.json"
    same.write_text(json.dumps(data))
    assert SupportModel.load(same).claim_cutoff == data["claim_cutoff"]
    data["features"] = change(data["features"])
    other = tmp_path / "other.json"
    other.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="trained on other features"):
        SupportModel.load(other)


def test_the_thesaurus_finds_synonyms_families_and_narrower_evidence_but_not_added_detail():
    from ragmeter.metrics.judges.embedded import synonyms, text

    def says(claim_word: str, evidence_word: str) -> bool:
        return synonyms.found(text.stem(claim_word), frozenset({text.stem(evidence_word)}))

    assert says("climbed", "rose") and says("physician", "doctor") and says("decision", "decided")
    assert says("walkers", "hikers")  # evidence that names something narrower says the broader word
    assert not says("hikers", "walkers")  # the reverse would add detail
    assert not says("goalkeeper", "striker") and not says("profit", "loss") and not says("unsafe", "safe")
