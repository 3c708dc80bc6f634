"""Which negations of a sentence bear on a claim: a negation reaches to the end of its clause, not of its sentence.

"The mayor, who was not present at the meeting, later approved the plan." does not deny that the mayor approved
the plan, and "The delay was not caused by the weather but by a staff shortage." affirms the staff shortage.
Counting every negation of the sentence called the first claim contradicted and the second's opposite supported.
The clause boundaries and words live in assets/words/negation.json.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from . import text, wordlists

_DATA = wordlists.load("negation")
_BOUNDARY = re.compile("|".join([*(re.escape(m) for m in _DATA["clause_marks"]),
                                 *(rf"(?=\b{w}\b)" for w in _DATA["clause_words"])]), re.IGNORECASE)
_CONTRAST = frozenset(_DATA["contrast_words"])
_NOT_NEGATION = re.compile(r"\b(?:" + "|".join(map(re.escape, _DATA["not_negations"])) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    stems: frozenset[str]
    negations: int
    contrast: bool  # starts with "but", "instead"...: the alternative to a negated clause before it
    denied: frozenset[str]  # the stems after its first negation: what it denies
    leads: bool  # starts with its negation: "..., not the weather"


@lru_cache(maxsize=8192)
def clauses(sentence: str) -> tuple[Clause, ...]:
    """The sentence's clauses, each with its content stems and its number of negations."""
    out = []
    for piece in _BOUNDARY.split(_NOT_NEGATION.sub(" ", sentence)):
        words = text.words(piece)
        if not words:
            continue
        cue = next((i for i, w in enumerate(words) if text.is_negation(w)), len(words))
        out.append(Clause(frozenset(text.content_stems(piece)), sum(map(text.is_negation, words)),
                          words[0] in _CONTRAST, frozenset(text.content_stems(" ".join(words[cue + 1:]))),
                          cue == 0))
    return tuple(out)


def negated_for(stems: frozenset[str], sentence: str) -> bool:
    """Whether `sentence` negates what it says of these content stems (a claim's, against its evidence).

    The parity of the negations in the clauses that hold any of the stems, leaving out a negated clause followed
    by a contrast that holds at least as many of them, not in the clause, as the clause denies ("not X but Y"
    affirms Y: a claim made of Y's words is not denied). When no clause holds any of them, the whole sentence's
    parity.
    """
    parts = clauses(sentence)
    if not any(c.stems & stems for c in parts):
        return sum(c.negations for c in parts) % 2 == 1
    count = 0
    for i, clause in enumerate(parts):
        if not clause.stems & stems:
            continue
        after = parts[i + 1] if i + 1 < len(parts) else None
        if clause.negations and after is not None and after.contrast:
            instead = (after.stems - clause.stems) & stems
            if instead and len(instead) >= len(clause.denied & stems):
                continue
        count += clause.negations
    return count % 2 == 1


def contrast(sentence: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """What a sentence of the form "not Y but X" or "X, not Y" affirms (X's stems) and denies (Y's); else None."""
    parts = clauses(sentence)
    for i, clause in enumerate(parts):
        after = parts[i + 1] if i + 1 < len(parts) else None
        if clause.negations == 1 and after is not None and after.contrast and not after.negations:
            return after.stems - clause.stems, clause.denied - after.stems
        before = parts[i - 1] if i else None
        if clause.negations == 1 and clause.leads and before is not None and not before.negations:
            return before.stems - clause.stems, clause.stems
    return None


def clash(claim: str, claim_stems: frozenset[str], sentence: str) -> bool:
    """True when the claim and its evidence sentence disagree on negation, each read where it bears on the other.

    When both contrast one thing with another ("X, not Y" against "not Y but X"), each denied stem that both
    place on a side votes: parity would call that pair a clash, and a claim that swaps X and Y none.
    """
    ours, theirs = contrast(claim), contrast(sentence)
    if ours is not None and theirs is not None:
        # Only what either side denies votes: the subject both sides affirm says nothing of which way they lean.
        placed = (ours[0] | ours[1]) & (theirs[0] | theirs[1]) & (ours[1] | theirs[1])
        oppose = sum((stem in ours[1]) != (stem in theirs[1]) for stem in placed)
        if placed:
            return 2 * oppose > len(placed)
    return negated_for(_stems(sentence), claim) != negated_for(claim_stems, sentence)


@lru_cache(maxsize=8192)
def _stems(sentence: str) -> frozenset[str]:
    # The same evidence sentence is read for the learned feature and again for the contradiction rule.
    return frozenset(text.content_stems(sentence))
