"""Span highlights: where each claim sits in the response, exactly or as the closest sentence or clause."""
from __future__ import annotations

import re

from hypothesis import given, strategies as st

from ragmeter.metrics.citations import mark, with_spans
from ragmeter.metrics.judgements import ClaimVerdict
from ragmeter.metrics.spans import find_span
from ragmeter.service.server.batches.report import highlight

TEXT = "The Eiffel Tower is in Paris. It was completed in 1889, and it is 330 metres tall."


def folded(text: str) -> str:
    return re.sub(r"\s+", " ", text).lower().strip()


@given(st.text(min_size=1), st.integers(0, 200), st.integers(1, 60))
def test_a_span_is_inside_the_response_and_a_verbatim_claim_reproduces_itself(response, start, length):
    start = start % len(response)
    claim = response[start:start + length]
    span = find_span(claim, response)
    core = claim.strip().strip(" \t\n\r.,;:!?\"'").strip()
    if span is None:
        assert not core  # only a claim of spaces and punctuation has no place
        return
    assert 0 <= span[0] < span[1] <= len(response)
    assert folded(response[span[0]:span[1]]) == folded(claim.strip())


@given(st.text(), st.text())
def test_any_claim_gets_a_span_inside_the_response_or_none(claim, response):
    span = find_span(claim, response)
    assert span is None or 0 <= span[0] < span[1] <= len(response)


def test_case_and_spacing_do_not_matter_for_an_exact_match():
    start, end = find_span("it was  COMPLETED in 1889.", TEXT)
    assert TEXT[start:end] == "It was completed in 1889"  # the claim's full stop is a comma in the text


def test_a_reworded_claim_gets_the_closest_clause():
    start, end = find_span("The tower is 330 metres tall", TEXT)
    assert TEXT[start:end] == "and it is 330 metres tall."


def test_a_claim_the_response_does_not_make_has_no_span():
    assert find_span("Berlin is the capital of Germany", TEXT) is None


def test_spans_are_offsets_in_the_answer_with_its_citation_markers():
    marked = mark("Paris is in France [1]. Berlin is in Germany [2].")
    [claim] = with_spans([ClaimVerdict(claim="Berlin is in Germany.", verdict="supported")], marked)
    assert claim.span is not None
    assert marked.original[claim.span[0]:claim.span[1]] == "Berlin is in Germany [2]."


def test_the_report_marks_claims_at_their_spans_and_escapes_the_answer():
    answer = "<b>Paris</b> is in Spain [1]. It is big."
    claims = [{"claim": "Paris is in Spain.", "verdict": "contradicted", "span": [0, 29]},
              {"claim": "It rains a lot.", "verdict": "unsupported", "span": None}]
    html = highlight(answer, [], claims=claims)
    assert html == ('<mark class="contradicted">&lt;b&gt;Paris&lt;/b&gt; is in Spain [1].</mark> It is big.'
                    '<br><mark class="unsupported">It rains a lot.</mark>')
