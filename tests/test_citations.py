"""Citation recall and precision, per sentence, with the marker formats and the unsupported_citation gate rule."""
from __future__ import annotations

import asyncio
import json
import re

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, strategies as st

from ragmeter.metrics import GateConfig, Sample, score_sample
from ragmeter.metrics.citations import DEFAULT_PATTERN, mark
from ragmeter.metrics.judgements import ClaimVerdict, Decomposition, Verification
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, upload, wait_done

PARIS = "Paris is the capital of France."
BERLIN = "Berlin is the capital of Germany."
BOTH = "Paris and Berlin are capitals."
CITED = ["citation_recall", "citation_precision"]


class SentenceJudge(StubJudge):
    """Each sentence (or comma-separated part) of the answer is a claim, supported by every context that holds
    it (all listed, as a judge asked for per-chunk support does); remembers the answer it was given."""

    def __init__(self):
        super().__init__()
        self.read: list[str] = []

    async def decompose(self, sample, need, usage):
        self.read.append(sample.response)
        return Decomposition(claims=[s for s in re.split(r"(?<=\.)\s+|,\s+", sample.response) if s.strip()])

    async def verify(self, sample, parts, need, usage):
        def holding(claim: str) -> list[int]:
            return [i for i, c in enumerate(sample.retrieved_contexts) if claim.rstrip(".").lower() in c.lower()]

        return Verification(claims=[
            ClaimVerdict(claim=c, verdict="supported" if holding(c) else "unsupported",
                         evidence=c.rstrip(".") if holding(c) else "",
                         context_index=holding(c)[0] if holding(c) else None,
                         contexts=holding(c) if need.chunk_support else None)
            for c in parts.claims])


def score(response: str, contexts: list[str] | None = None, judge: SentenceJudge | None = None, **options):
    sample = Sample(user_input="What are the capitals?", response=response,
                    retrieved_contexts=contexts or [PARIS, BERLIN])
    return asyncio.run(score_sample(sample, judge or SentenceJudge(), options.pop("metrics", CITED), **options))


def test_a_citation_to_the_wrong_context_is_unsupported_and_unneeded():
    result = score("Paris is the capital of France [2].")
    assert (result.scores.citation_recall, result.scores.citation_precision) == (0.0, 0.0)
    [sentence] = result.details.citation_recall.sentences
    assert (sentence.citations, sentence.supported, sentence.unneeded) == ([2], False, [2])
    assert sentence.unsupported_claims == [PARIS]


def test_a_sentence_citing_two_contexts_of_which_one_supports_it():
    result = score("Paris is the capital of France [1][2].")
    assert result.scores.citation_recall == 1.0
    assert result.scores.citation_precision == 0.5
    assert result.details.citation_precision.sentences[0].unneeded == [2]


def test_precision_follows_alce_at_claim_level():
    two_claims = "Paris is the capital of France, Berlin is the capital of Germany [1][2]."
    # Each citation supports one of the sentence's two claims: neither alone supports it, both are needed.
    split = score(two_claims)
    assert (split.scores.citation_recall, split.scores.citation_precision) == (1.0, 1.0)
    # [1] supports both claims, [2] only one: [2] alone does not support the sentence and [1] does without it.
    covered = score(two_claims, [PARIS + " " + BERLIN, BERLIN])
    assert covered.scores.citation_precision == 0.5
    assert covered.details.citation_precision.sentences[0].unneeded == [2]
    # Each alone supports the whole sentence: neither is unneeded by ALCE's rule (the redundancy is not penalised).
    twice = score("Paris is the capital of France [1][2].", [PARIS, PARIS])
    assert twice.scores.citation_precision == 1.0


def test_an_uncited_sentence_with_claims_counts_against_recall_not_precision():
    result = score("Paris is the capital of France [1]. Berlin is the capital of Germany.")
    assert result.scores.citation_recall == 0.5
    assert result.scores.citation_precision == 1.0
    second = result.details.citation_recall.sentences[1]
    assert (second.citations, second.supported) == ([], False)


def test_doc_and_footnote_markers_are_read_by_default():
    result = score("Paris is the capital of France [doc1]. Berlin is the capital of Germany.[^2]")
    assert (result.scores.citation_recall, result.scores.citation_precision) == (1.0, 1.0)
    assert [s.citations for s in result.details.citation_recall.sentences] == [[1], [2]]


def test_a_custom_pattern_reads_its_own_markers_and_ignores_the_default_ones():
    response = "Paris is the capital of France (source 1). Berlin is the capital of Germany (source 1)."
    result = score(response, citation_pattern=r"\(source (\d+)\)")
    assert result.scores.citation_recall == 0.5
    assert [s.supported for s in result.details.citation_recall.sentences] == [True, False]
    assert score("Paris is the capital of France [1].", citation_pattern=r"\(source (\d+)\)") \
        .details.citation_recall.reason == "no_citations"


def test_a_marker_beyond_the_contexts_is_an_unsupported_citation_named_in_the_details():
    result = score("Paris is the capital of France [1][7].")
    assert result.scores.citation_recall == 1.0  # [1] supports it
    assert result.scores.citation_precision == 0.5
    sentence = result.details.citation_precision.sentences[0]
    assert (sentence.missing, sentence.unneeded) == ([7], [7])
    alone = score("Paris is the capital of France [7].")
    assert (alone.scores.citation_recall, alone.details.citation_recall.sentences[0].missing) == (0.0, [7])


def test_markers_are_stripped_before_judging_and_spans_point_into_the_original_answer():
    judge = SentenceJudge()
    response = "Paris is the capital of France [1]. Berlin is the capital of Germany [2]."
    result = score(response, judge=judge, metrics=["faithfulness", *CITED])
    assert judge.read == ["Paris is the capital of France. Berlin is the capital of Germany."]
    claims = result.details.faithfulness.claims
    assert [c.claim for c in claims] == [PARIS, BERLIN]
    assert result.scores.faithfulness == 1.0
    assert [response[c.span[0]:c.span[1]] for c in claims if c.span] == \
        ["Paris is the capital of France [1].", "Berlin is the capital of Germany [2]."]
    assert [s.span for s in result.details.citation_recall.sentences] == [[0, 35], [36, 73]]


def test_an_answer_without_markers_is_judged_as_sent_and_its_citation_scores_are_null():
    judge = SentenceJudge()
    result = score("Paris is the capital of France.", judge=judge, metrics=["faithfulness", *CITED])
    assert judge.read == ["Paris is the capital of France."]
    assert result.details.citation_recall.reason == result.details.citation_precision.reason == "no_citations"
    assert result.scores.faithfulness == 1.0


def test_citation_metrics_are_opt_in():
    result = score("Paris is the capital of France [1].", metrics=None)
    assert result.details.citation_recall.reason == "not_requested"


def test_the_gate_fails_an_answer_whose_cited_sentence_is_not_supported():
    gate = GateConfig(fail_on_unsupported_citation=True)
    failed = score("Paris is the capital of France [2].", metrics=["faithfulness"], gate=gate).gate
    assert not failed.passed
    assert failed.failed_rules and failed.failed_rules[0].startswith("unsupported_citation")
    # An uncited sentence lowers recall but cites nothing wrong; no markers at all: nothing to check.
    passed = score("Paris is the capital of France [1]. Berlin is the capital of Germany.",
                   metrics=["faithfulness"], gate=gate).gate
    assert passed.passed
    plain = score("Paris is the capital of France.", metrics=["faithfulness"], gate=gate).gate
    assert plain.passed and any("no citation markers" in n for n in plain.notes)
    assert score("Paris is the capital of France [2].", metrics=["faithfulness"]).gate.passed  # off by default


def test_the_pattern_must_have_one_group():
    with pytest.raises(ValueError, match="one group"):
        Settings(citation_pattern=r"\[\d+\]")


def test_end_to_end_through_the_api():
    body = {"samples": [{"question": "What are the capitals?", "contexts": [PARIS, BERLIN],
                         "answer": "Paris is the capital of France <2>. Berlin is the capital of Germany <2>."}],
            "metrics": ["faithfulness", *CITED], "gate": {"fail_on_unsupported_citation": True},
            "citation_pattern": r"<(\d+)>"}
    with TestClient(create_app(Settings(), judge=SentenceJudge())) as client:
        [result] = client.post("/v1/evaluate", json=body).json()["results"]
        assert result["scores"]["citation_recall"] == 0.5
        assert result["scores"]["citation_precision"] == 0.5
        assert result["details"]["citation_recall"]["sentences"][0]["unneeded"] == [2]
        assert not result["gate"]["passed"]
        assert client.post("/v1/evaluate", json={**body, "citation_pattern": "<"}).status_code == 422
        listed = {m["name"] for m in client.get("/v1/metrics").json()}
        assert set(CITED) <= listed


@given(st.lists(st.sampled_from(["Paris", " ", ".", "[1]", "[doc2]", "[^3]", "[", "]", "x"]), max_size=30))
def test_stripping_markers_keeps_every_other_character_where_it_was(pieces):
    response = "".join(pieces)
    marked = mark(response)
    assert all(response[i] == marked.text[n] for n, i in enumerate(marked.kept)) or not marked.markers
    assert not marked.markers or not re.search(DEFAULT_PATTERN, marked.text)
    for start, end in marked.sentences():
        a, b = marked.to_original(start, end)
        assert 0 <= a < b <= len(response)


def test_a_batch_reads_the_services_pattern_and_its_report_charts_the_citation_scores():
    records = [{"id": "a", "question": "Capitals?", "contexts": [PARIS, BERLIN],
                "answer": "Paris is the capital of France {2}. Berlin is the capital of Germany {2}."}]
    settings = Settings(citation_pattern=r"\{(\d+)\}")
    with TestClient(create_app(settings, judge=SentenceJudge())) as client:
        batch = upload(client, as_file(records, "jsonl"), "cited.jsonl",
                       metrics="faithfulness,citation_recall,citation_precision").json()
        assert wait_done(client, batch["id"])["status"] == "done"
        [row] = [json.loads(line) for line in client.get(f"/v1/batches/{batch['id']}/results").text.splitlines()]
        assert (row["faithfulness"], row["citation_recall"], row["citation_precision"]) == (1.0, 0.5, 0.5)
        report = client.get(f"/v1/batches/{batch['id']}/report").text
    assert 'data-metric="citation_recall"' in report


def test_a_pattern_that_backtracks_without_end_is_refused_not_run():
    # "(a|a)*$" takes exponential time on "aaa...b": the request is a 422 naming the field, answered at once.
    with TestClient(create_app(Settings(), judge=StubJudge())) as c:
        response = c.post("/v1/evaluate", json={
            "samples": [{"user_input": "q", "retrieved_contexts": ["c"], "response": "a" * 40 + "b"}],
            "metrics": ["citation_recall"], "citation_pattern": "(a|a)*$"})
    assert response.status_code == 422
    assert "takes over" in response.text
