"""Citation markers in an answer ([1], [doc3], [^2]): found, stripped for the judges, and mapped back.

The judges read the answer without its markers, so that "[1]" never ends up in a claim; spans and the
citation checks are given in the original answer's offsets.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

from .judgements import ClaimVerdict
from .spans import find_span, segments

# [1], [doc3], [Doc 3], [^1]: one group, the 1-based context number.
DEFAULT_PATTERN = r"\[(?:[Dd][Oo][Cc]\s*|\^)?(\d+)\]"
# The most one answer's markers may take to find: a marker pattern is linear on any sane answer; one that is
# not (nested or overlapping repeats) is refused rather than left to run for minutes.
MATCH_TIMEOUT_S = 0.5


class PatternTooSlow(ValueError):
    """A citation pattern took longer than MATCH_TIMEOUT_S on one answer."""


@lru_cache(maxsize=32)
def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """The marker regex; ValueError unless it compiles with exactly one group that matches a number."""
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        raise ValueError(f"citation pattern {pattern!r} is not a valid regex: {exc}") from exc
    if compiled.groups != 1:
        raise ValueError(f"citation pattern {pattern!r} must have exactly one group (the context number), "
                         f"not {compiled.groups}")
    return compiled


@dataclass(frozen=True)
class Marker:
    start: int  # in the original answer
    end: int
    number: int | None  # the 1-based context number written; None when the group is not a number


@dataclass(frozen=True)
class Marked:
    """An answer, its markers, and the answer without them (`text`), with each kept character's origin."""

    original: str
    text: str
    markers: tuple[Marker, ...]
    kept: tuple[int, ...]  # kept[i]: the index in `original` of text[i]

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """[start, end) in `text` as offsets in the original answer."""
        if not self.markers:
            return start, end
        return self.kept[start], self.kept[end - 1] + 1

    def sentences(self) -> list[tuple[int, int]]:
        """Each sentence's [start, end) in `text`."""
        return segments(self.text)


def mark(response: str, pattern: str | None = None) -> Marked:
    """The response's markers (by `pattern`, default DEFAULT_PATTERN), and the response without them."""
    compiled = compile_pattern(pattern or DEFAULT_PATTERN)
    try:
        found = list(compiled.finditer(response, timeout=MATCH_TIMEOUT_S))
    except TimeoutError as exc:
        raise PatternTooSlow(f"citation pattern {compiled.pattern!r} takes over {MATCH_TIMEOUT_S} s on an answer of "
                             f"{len(response)} characters (nested or overlapping repeats?)") from exc
    if not found:
        return Marked(response, response, (), ())
    dropped = [False] * len(response)
    markers = []
    for match in found:
        if match.end() == match.start():
            continue
        start = match.start()
        # "Paris [1]." reads "Paris." without its marker: the space before the marker goes with it.
        while start > 0 and response[start - 1] in " \t" and not dropped[start - 1]:
            start -= 1
        for i in range(start, match.end()):
            dropped[i] = True
        digits = match.group(1) or ""
        markers.append(Marker(match.start(), match.end(), int(digits) if digits.isdecimal() else None))
    kept = tuple(i for i, gone in enumerate(dropped) if not gone)
    text = "".join(response[i] for i in kept)
    if not markers or not text.strip():  # nothing but markers: the judges read it as it is
        return Marked(response, response, (), ())
    return Marked(response, text, tuple(markers), kept)


def with_spans(claims: list[ClaimVerdict], marked: Marked) -> list[ClaimVerdict]:
    """The claims with `span` set to their place in the original answer (null when not found)."""
    out = []
    for claim in claims:
        span = find_span(claim.claim, marked.text)
        out.append(claim.model_copy(update={"span": list(marked.to_original(*span)) if span else None}))
    return out
