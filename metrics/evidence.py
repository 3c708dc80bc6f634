"""Checks that a judge's evidence quote really occurs in the contexts.

A judge may paraphrase or invent a quote; a verdict resting on a quote that is not in
the contexts is not evidence, so the claim is downgraded to unsupported.
"""
from __future__ import annotations

import re
import unicodedata

from .judgements import ClaimVerdict, StatementVerdict

_SPACE = re.compile(r"\s+")
_ELLIPSIS = re.compile(r"\.\.\.|…")
# Typographic variants a model often swaps for the ASCII ones in a quote.
_FOLD = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-"})
_EDGE = " \t\n\"'`.,;:!?()[]«»"

NOT_FOUND_NOTE = "evidence quote not found in the contexts"


def normalise(text: str) -> str:
    """Case-, whitespace- and quote-style-insensitive form for substring matching."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return _SPACE.sub(" ", text).strip()


def locate(quote: str, contexts_normalised: list[str]) -> int | None:
    """Index of the first context holding every fragment of the quote, in order; None if none does."""
    fragments = [normalise(f).strip(_EDGE) for f in _ELLIPSIS.split(quote)]
    fragments = [f for f in fragments if f]
    if not fragments:
        return None
    for index, context in enumerate(contexts_normalised):
        start = 0
        for fragment in fragments:
            found = context.find(fragment, start)
            if found < 0:
                break
            start = found + len(fragment)
        else:
            return index
    return None


def check_claims(verdicts: list[ClaimVerdict], contexts: list[str]) -> list[ClaimVerdict]:
    """Downgrade supported or contradicted claims whose quote is not in the contexts."""
    normalised = [normalise(c) for c in contexts]
    return [v if v.verdict == "unsupported" else _checked(v, normalised, {"verdict": "unsupported"})
            for v in verdicts]


def check_statements(verdicts: list[StatementVerdict], contexts: list[str]) -> list[StatementVerdict]:
    """Mark attributable statements unattributable when their quote is not in the contexts."""
    normalised = [normalise(c) for c in contexts]
    return [_checked(v, normalised, {"attributable": False}) if v.attributable else v
            for v in verdicts]


def _checked(verdict, contexts_normalised: list[str], downgrade: dict):
    index = locate(verdict.evidence, contexts_normalised)
    if index is None:
        note = f"{verdict.reason} [{NOT_FOUND_NOTE}]" if verdict.reason else NOT_FOUND_NOTE
        return verdict.model_copy(update={**downgrade, "context_index": None, "reason": note})
    # The located context is the truth; a judge's own index may be off by one.
    return verdict.model_copy(update={"context_index": index})
