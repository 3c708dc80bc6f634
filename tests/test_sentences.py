"""The judges' sentence split: pysbd's, found again in the text without a regular expression per sentence."""
import pysbd
from hypothesis import given, settings
from hypothesis import strategies as st
from ragmeter.metrics.judges.embedded import text

PIECES = ["The", "tower", "Dr.", "U.S.", "3.5", "e.g.", "It", "is", "tall", ".", "!", "?", "...", '"', "'", "(",
          ")", " ", "  ", "\n", "\u00a0", "\u2003", "1889", "Mr", "i.e.", "So", "the", "answer", "“", "”", "-", "–"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40))
def test_the_split_is_pysbds_own(parts):
    piece = "".join(parts)
    assert text._segment(piece) == pysbd.Segmenter(language="en", clean=False).segment(piece)


def test_a_sentence_repeated_in_the_text_is_found_at_each_place():
    answer = "It is tall. It is tall. It is red. It is tall."
    assert text.sentences(answer) == ["It is tall.", "It is tall.", "It is red.", "It is tall."]
