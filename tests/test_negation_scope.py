"""Where a negation reaches: the clause it is in, not the whole sentence (negation.py)."""
import pytest

from ragmeter.metrics.judges.embedded import contradiction, negation, text


def clash(claim: str, sentence: str) -> bool:
    return negation.clash(claim, frozenset(text.content_stems(claim)), sentence)


@pytest.mark.parametrize(("claim", "sentence", "expected"), [
    ("The museum did not reopen in May.", "The museum reopened in May after a two-year renovation.", True),
    ("The museum reopened in May.", "No, the museum reopened in May.", False),  # an answer's "No," denies nothing
    ("The mayor approved the plan.", "The mayor, who was not present at the meeting, later approved the plan.", False),
    ("The mayor was not present.", "The mayor, who was not present at the meeting, later approved the plan.", False),
    ("The delay was caused by a staff shortage.", "The delay was not caused by the weather but by a staff shortage.",
     False),
    ("The delay was caused by the weather.", "The delay was not caused by the weather but by a staff shortage.", True),
    ("The coach said he did not expect the striker to be fit for the game.",
     "The coach said he did not expect the striker to be fit for the game, but the coach hopes for the best.", False),
    ("The firm cut jobs.", "The firm not only cut jobs but also closed plants.", False),
    ("The senator voted for the bill.", "The senator did not vote for the bill, citing its cost.", True),
    ("Officials said there were no survivors.", "No survivors were found after the crash, officials said.", False),
])
def test_a_negation_bears_on_the_words_of_its_own_clause(claim, sentence, expected):
    assert clash(claim, sentence) is expected


@pytest.mark.parametrize(("claim", "sentence", "expected"), [
    # Both sides contrast: what each denies decides, not how many negations each holds.
    ("A staff shortage caused the delay, not the weather.",
     "The delay was not caused by the weather but by a staff shortage.", False),
    ("The weather caused the delay, not a staff shortage.",
     "The delay was not caused by the weather but by a staff shortage.", True),
    ("Not the weather but a staff shortage caused the delay.",
     "The delay was caused by a staff shortage, not by the weather.", False),
    ("The museum reopened in June, not May.", "The museum reopened in May, not June.", True),
    ("The museum did not reopen in June but in May.", "The museum reopened in May, not June.", False),
    # One side only: a trailing "not Y" denies Y and leaves the rest affirmed.
    ("The museum reopened in June.", "The museum reopened in May, not June.", True),
    ("The museum reopened in May.", "The museum reopened in May, not June.", False),
])
def test_a_contrast_is_read_item_by_item(claim, sentence, expected):
    assert clash(claim, sentence) is expected


@pytest.mark.parametrize(("claim", "sentence", "flips", "rewritten"), [
    ("The bridge was open.", "No, the bridge was not closed, officials said.", {"open"},
     "No, the bridge was open, officials said."),
    ("The shop was closed on Sunday.", "The shop wasn't open on Sunday.", {"clos"}, "The shop was closed on Sunday."),
    ("The bridge was not open.", "The bridge was closed.", {"open"}, "The bridge was not open."),
    ("The drug was ineffective.", "The drug was not effective.", {"ineffective"}, "The drug was ineffective."),
    ("The bridge was open.", "The bridge was closed.", set(), None),  # no negation: a plain opposite
    ("He never arrives late.", "He always arrives late.", set(), None),  # function words are not flipped
])
def test_an_opposite_under_a_negation_is_read_as_the_claims_word(claim, sentence, flips, rewritten):
    stems = frozenset(text.content_stems(claim))
    found = contradiction.flipped(claim, stems, sentence)
    assert found == flips
    if rewritten is not None:
        assert contradiction.unflipped(sentence, claim, found) == rewritten
