"""Text handling for the embedded judge: sentences, content words, numbers, negation, evasion cues."""
from __future__ import annotations

import re
import threading
from functools import lru_cache

# Sentences glued without a space ("...in the 19th century.First for Women is...") are common in
# scraped contexts; pysbd keeps them together, so a space goes in first.
_GLUED = re.compile(r"(?<=[a-z0-9\)\]\"”’][.!?])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")

STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being
below between both but by can could did do does doing down during each few for from further had has
have having he her here hers herself him himself his how i if in into is it its itself just me more
most my myself no nor not of off on once only or other our ours ourselves out over own same she should
so some such than that the their theirs them themselves then there these they this those through to too
under until up very was we were what when where which while who whom why will with would you your yours
yourself yourselves s t don't doesn't didn't isn't wasn't weren't won't can't cannot shouldn't wouldn't
one two also however although though yet still may might must shall upon via per within without among
yes
""".split())

NEGATIONS = frozenset("""
not no never none nobody nothing neither nor n't cannot without don't doesn't didn't isn't wasn't
weren't won't can't couldn't shouldn't wouldn't hasn't haven't hadn't aren't
""".split())

# Phrases by which an answer declines to answer. Checked on the whole answer, lower-cased.
EVASIONS = re.compile(
    r"\b(i (do not|don't|dont) know|i'?m not sure|i am not sure|not sure|no idea|cannot (be )?(determined|answered|found)|"
    r"can(no|')t (find|answer|say|tell|determine|provide)|unable to (find|answer|determine|provide|say)|"
    r"(no|not enough|insufficient) (information|context|data|details)|"
    r"(is|are|was|were)n?'?t? not (mentioned|provided|specified|stated|given|available)|"
    r"not (mentioned|provided|specified|stated|given|available|covered) in|"
    r"(the )?(context|documents?|passages?|sources?) (does|do) not (say|mention|contain|provide|specify)|"
    r"unclear|unknown|i (could|can) not|i couldn't)\b"
)


_local = threading.local()


def _segmenter():
    # pysbd keeps per-call state on the segmenter object, so each thread gets its own.
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        import pysbd

        # pysbd compiles several hundred regular expressions per call through `re`'s cache; the
        # default 512 entries thrash and recompiling was a fifth of the judge's time.
        re._MAXCACHE = max(getattr(re, "_MAXCACHE", 512), 4096)

        segmenter = _local.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def sentences(text: str) -> list[str]:
    """Sentences of a text, each a verbatim substring of it (so it can serve as an evidence quote)."""
    return list(_sentences(text))


@lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[str, ...]:
    # pysbd costs milliseconds per paragraph and the same answer is split by several metrics.
    out = []
    for piece in _GLUED.split(text):
        out.extend(p.strip() for p in _segmenter().segment(piece) if p.strip())
    return tuple(out)


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'published' with 'publishes', cheap and language-light."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in ("ations", "ation", "ingly", "ings", "ing", "edly", "ies", "ied", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> list[str]:
    """Stems of the content words of a text, in order, duplicates kept."""
    return [stem(w) for w in words(text) if w not in STOPWORDS and not w.isdigit() and len(w) > 1]


def numbers(text: str) -> set[str]:
    """Numbers in a text, with thousands separators removed."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def names(text: str) -> set[str]:
    """Lower-cased capitalised words that do not start a sentence: a cheap stand-in for named entities."""
    found = set()
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        tokens = _WORD.findall(sentence)
        for token in tokens[1:]:
            if token[:1].isupper() and token.lower() not in STOPWORDS:
                found.add(stem(token.lower()))
    return found


def negated(text: str) -> bool:
    """True when the text holds an odd number of negations."""
    lowered = text.lower().replace("’", "'")
    count = sum(1 for w in words(lowered) if w in NEGATIONS or w.endswith("n't"))
    return count % 2 == 1


def evasive(text: str) -> bool:
    """True when the answer declines to answer."""
    return bool(EVASIONS.search(text.lower().replace("’", "'")))
