"""An answer's sentences as claims the embedded judge can check one by one.

A sentence that joins two facts with "and" ("The tower was completed in 1889 and is 330 metres tall")
becomes one claim per fact, each with the sentence's subject, so each is judged against its own
evidence (as the LLM judge's decomposition does). A claim that opens with a pronoun ("It is 330
metres tall") is matched as if it named the subject of the sentence before it; the claim shown to
the user stays as written. A list item's marker ("1.", "2)", "-", "•") is not part of its claim: its
number is no figure the contexts must hold.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

WORDS_FILE = Path(__file__).resolve().parent / "assets" / "words" / "claims.json"


@cache
def _words() -> dict[str, list[str]]:
    return json.loads(WORDS_FILE.read_text())


@cache
def _patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    words = _words()
    verbs = "|".join(words["auxiliaries"])
    subject_pronouns = "|".join(words["subject_pronouns"])
    # "X was completed in 1889 and is 330 metres tall": the second fact opens with a verb of its own.
    joined = re.compile(rf"^(?P<subject>.+?)\s+(?P<first>(?:(?:{verbs})\b|\w+ed\b).+?),?\s+and\s+"
                        rf"(?:(?:{subject_pronouns})\s+)?(?P<second>(?:(?:{verbs})\b|\w+ed\b).+)$")
    # Case matters here: a name is capitalised, a verb is not.
    name = r"(?:(?:[Tt]he|[Aa]n?)\s+)?[A-Z][\w'’.-]*(?:\s+(?:of\s+|de\s+)?[A-Z0-9][\w'’.-]*)*"
    subject = re.compile(rf"^(?P<subject>{name}"
                         rf"|(?:[Tt]he|[Aa]n?)\s+[a-z][\w'’-]*(?:\s+[a-z][\w'’-]*)?)\s+(?:{verbs}|\w+ed)\b")
    pronoun = re.compile(rf"^(?P<pronoun>{subject_pronouns}|{'|'.join(_words()['possessive_pronouns'])})\b",
                         re.IGNORECASE)
    return joined, subject, pronoun


@dataclass(frozen=True)
class ClaimText:
    text: str  # as the user reads it
    resolved: str  # with a leading pronoun replaced by the subject it stands for


def subject_of(sentence: str) -> str | None:
    """The sentence's grammatical subject when it leads with a noun phrase ('The Eiffel Tower'), else None."""
    match = _patterns()[1].match(sentence.strip())
    if match is None:
        return None
    found = match.group("subject")
    return None if found.lower() in _pronoun_set() or len(found.split()) > 6 else found


@cache
def _pronoun_set() -> frozenset[str]:
    return frozenset(w.lower() for w in _words()["subject_pronouns"] + _words()["possessive_pronouns"])


# "1. ", "12) ", "(3) ", "a) ", "- ", "* ", "• " opening a line: a list item's marker, followed by its text.
_MARKER = re.compile(r"^\s*(?:\(?\d{1,2}[.)]|\(?[a-z]\)|[-*•–])\s+(?=\S)")


def without_marker(sentence: str) -> str:
    """The sentence without a list item's marker ('1. The tower is tall.' -> 'The tower is tall.'); the same
    string when it has none."""
    match = _MARKER.match(sentence)
    return sentence[match.end():] if match else sentence


def split_joined(sentence: str) -> list[str]:
    """'S v1 A and v2 B.' -> ['S v1 A.', 'S v2 B.']; any other sentence is returned whole."""
    stripped = sentence.strip()
    match = _patterns()[0].match(stripped.rstrip("."))
    if match is None:
        return [sentence]
    subject, first, second = match.group("subject"), match.group("first"), match.group("second")
    if subject_of(f"{subject} {first}") is None or len(first.split()) < 2 or len(second.split()) < 2:
        return [sentence]
    return [f"{subject} {first}.", f"{subject} {second}."]


def resolve(sentence: str, subject: str | None) -> str:
    """The sentence with a leading pronoun replaced by `subject` ('It is tall' -> 'The tower is tall')."""
    if not subject:
        return sentence
    match = _patterns()[2].match(sentence)
    if match is None:
        return sentence
    word = match.group("pronoun").lower()
    replacement = f"{subject}'s" if word in {w.lower() for w in _words()["possessive_pronouns"]} else subject
    return replacement + sentence[match.end():]


def claim_texts(sentences: list[str], split: bool = True) -> list[ClaimText]:
    """Claims of an answer's sentences: joined facts split (unless `split` is False), leading pronouns resolved."""
    out: list[ClaimText] = []
    subject: str | None = None
    for sentence in map(without_marker, sentences):
        for part in split_joined(sentence) if split else [sentence]:
            resolved = resolve(part, subject)
            out.append(ClaimText(part if part is sentence else resolved, resolved))
            subject = subject_of(resolved) or subject
    return out
