"""Groups of words that say the same thing, by stem, for recognising a claim that rewords its evidence.

The encoder sees that "Sales grew" and "Sales rose" are close, but word coverage counts "grew"
as missing; a claim is a rewording when every word it lacks has a synonym in its evidence.
Small and general on purpose: common verbs of change, reporting, buying and making, adjectives of
size, and units with their abbreviations; not a thesaurus.
"""
from __future__ import annotations

from . import text, thesaurus, wordlists

# The groups live in assets/words/synonyms.json, as written; each word is stemmed here.
_GROUPS: list[list[str]] = wordlists.load("synonyms")["groups"]

SYNONYMS: dict[str, frozenset[str]] = {}
for _line in _GROUPS:
    _group = frozenset(text.stem(w) for w in _line)
    for _member in _group:
        SYNONYMS[_member] = SYNONYMS.get(_member, frozenset()) | _group


def found(stem: str, pool: frozenset[str] | set[str]) -> bool:
    """True when the stem, a listed synonym, or a word that states it (thesaurus.py) is in the pool of stems."""
    return (stem in pool or bool(SYNONYMS.get(stem, frozenset()) & pool)
            or not thesaurus.implied_by(stem).isdisjoint(pool))
