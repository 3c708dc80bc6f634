"""Where a claim sits in the response: [start, end) character offsets, for highlighting it.

A claim the judge copied from the answer is found exactly (ignoring case and runs of whitespace); a
reworded claim gets the sentence or clause with the best word overlap, or no span when even the best
one shares too few words with it.
"""
from __future__ import annotations

import re
from functools import lru_cache

# Below this word overlap (F1 of the two word sets) the closest window is a guess, not the claim's place.
MIN_OVERLAP = 0.5
_EDGE = " \t\n\r.,;:!?\"'"
_SPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")
# Sentence ends: terminal punctuation followed by whitespace, or a line break (not "3.5" or "e.g.x").
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014]\s+")


def find_span(claim: str, text: str) -> tuple[int, int] | None:
    """The claim's [start, end) in `text`: exact (case/space-insensitive) first, else the closest window."""
    whole = claim.strip()
    core = whole.strip(_EDGE).strip()
    if not core:
        return None
    # With its own end punctuation when the response has it too ("...1889." marks the full stop as well).
    return _exact(whole, text) or _exact(core, text) or _closest(core, text)


def segments(text: str, boundary: re.Pattern[str] = _SENTENCE_END) -> list[tuple[int, int]]:
    """The [start, end) of each non-blank piece of `text` between boundaries, trimmed of whitespace."""
    pieces, start = [], 0
    for cut in [*boundary.finditer(text), None]:
        end = cut.start() if cut else len(text)
        piece = text[start:end]
        if piece.strip():
            left = start + len(piece) - len(piece.lstrip())
            pieces.append((left, start + len(piece.rstrip())))
        if cut:
            start = cut.end()
    return pieces


@lru_cache(maxsize=8)
def _folded(text: str) -> tuple[str, list[int]]:
    """Lower-cased text with whitespace runs as one space, and each of its characters' index in `text`."""
    out: list[str] = []
    where: list[int] = []
    for i, char in enumerate(text):
        if char.isspace():
            if out and out[-1] == " ":
                continue
            char = " "
        # A character whose lower case is longer ("İ") stays as it is, so that positions map one to one.
        lower = char.lower()
        out.append(lower if len(lower) == 1 else char)
        where.append(i)
    return "".join(out), where


def _exact(core: str, text: str) -> tuple[int, int] | None:
    folded, where = _folded(text)
    needle = _folded(core)[0]
    found = folded.find(needle)
    if found < 0:
        return None
    return where[found], where[found + len(needle) - 1] + 1


def _closest(core: str, text: str) -> tuple[int, int] | None:
    words = set(_WORD.findall(core.lower()))
    if not words:
        return None
    best: tuple[float, int, tuple[int, int]] | None = None
    for window, other in _window_words(text):
        overlap = 2 * len(words & other) / (len(words) + len(other)) if other else 0.0
        # Higher overlap wins; among equals the shorter window, then the earlier one.
        key = (overlap, -(window[1] - window[0]), window)
        if overlap >= MIN_OVERLAP and (best is None or key[:2] > best[:2]):
            best = key
    return best[2] if best else None


@lru_cache(maxsize=8)
def _window_words(text: str) -> tuple[tuple[tuple[int, int], frozenset[str]], ...]:
    """Each window with its words, once per response however many claims it has."""
    return tuple((w, frozenset(_WORD.findall(text[w[0]:w[1]].lower()))) for w in _windows(text))


def _windows(text: str) -> list[tuple[int, int]]:
    """Each sentence, each clause, and each run of two adjacent clauses of a sentence."""
    windows = []
    for start, end in segments(text):
        windows.append((start, end))
        clauses = [(start + a, start + b) for a, b in segments(text[start:end], _CLAUSE_END)]
        if len(clauses) > 1:
            windows += clauses
            windows += [(clauses[i][0], clauses[i + 1][1]) for i in range(len(clauses) - 1)]
    return windows
