"""Text handling for the embedded judge: sentences, content words, numbers, negation, evasion cues."""
from __future__ import annotations

import re
import threading
from functools import lru_cache

from . import wordlists

# The word lists live in assets/words/text.json; this module keeps the rules that read them.
_DATA = wordlists.load("text")

# Sentences glued without a space ("...in the 19th century.First for Women is...") are common in
# scraped contexts; pysbd keeps them together, so a space goes in first.
_GLUED = re.compile(r"(?<=[a-z0-9\)\]\"”’][.!?])(?=[A-Z][a-z])")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_SCALES: dict[str, float] = {w: float(v) for w, v in _DATA["scales"].items()}
# A number and the scale written after it: "4.1bn", "4.1 billion", "3.7 million", "12 percent", "5k".
_SCALED = re.compile(rf"([$€£]\s?)?(\d+(?:[.,]\d+)*)(?:\s*({'|'.join(map(re.escape, _SCALES))})\b)?", re.IGNORECASE)
# "5m" and "5k" are amounts only after a currency sign; "330 m" is a height.
_CURRENCY_ONLY = set(_DATA["currency_only_scales"])
_SPELLED: dict[str, int] = dict(_DATA["spelled_numbers"])
_NUMBER_WORD = "|".join(sorted([*_SPELLED, *_DATA["number_phrase_words"]], key=len, reverse=True))
# A run of number words: "forty-two thousand", "two hundred and fifty", "a dozen".
_SPELLED_NUMBER = re.compile(rf"\b(?:{_NUMBER_WORD})(?:[\s-]+(?:{_NUMBER_WORD}))*\b", re.IGNORECASE)

STOPWORDS = frozenset(_DATA["stopwords"])

NUMBER_WORDS = frozenset(_SPELLED) | frozenset(_DATA["number_words"])

NEGATIONS = frozenset(_DATA["negations"])

# Phrases by which an answer declines to answer. Checked on the whole answer, lower-cased.
EVASIONS = re.compile(r"\b(" + "|".join(_DATA["evasions"]) + r")\b")


_local = threading.local()


def _segmenter():
    # pysbd keeps per-call state on the segmenter object, so each thread gets its own.
    segmenter = getattr(_local, "segmenter", None)
    if segmenter is None:
        import pysbd

        # pysbd compiles several hundred regular expressions per call through `re`'s cache; the
        # default 512 entries thrash and recompiling was a fifth of the judge's time. (A private setting of `re`,
        # absent from its type stubs.)
        re._MAXCACHE = max(getattr(re, "_MAXCACHE", 512), 4096)  # type: ignore[attr-defined]

        segmenter = _local.segmenter = pysbd.Segmenter(language="en", clean=False)
    return segmenter


def sentences(text: str) -> list[str]:
    """Sentences of a text, each a verbatim substring of it (so it can serve as an evidence quote)."""
    return list(_sentences(text))


@lru_cache(maxsize=4096)
def _sentences(text: str) -> tuple[str, ...]:
    # pysbd costs milliseconds per paragraph and the same answer is split by several metrics.
    out: list[str] = []
    for piece in _GLUED.split(text):
        out.extend(p.strip() for p in _segment(piece) if p.strip())
    return tuple(out)


def _segment(piece: str) -> list[str]:
    """pysbd's `Segmenter.segment` (not cleaned, no spans): each sentence found again in the text with the
    whitespace after it. pysbd finds each with a regular expression made of the sentence itself, one compile a
    sentence that also pushed its own few hundred patterns out of `re`'s cache; `str.find` finds the same."""
    if not piece:
        return []
    found, prior = [], 0
    for sentence in _segmenter().processor(piece).process():
        at = piece.find(sentence)
        while at >= 0:
            end = at + len(sentence)
            while end < len(piece) and piece[end].isspace():  # `\s*` is str.isspace, character by character
                end += 1
            if end > prior:  # the first occurrence past the sentence before, as pysbd takes it
                found.append(piece[at:end])
                prior = end
                break
            at = piece.find(sentence, end if end > at else at + 1)
    return found


def words(text: str) -> list[str]:
    """Lower-cased word tokens."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


_STEM_SUFFIXES: tuple[str, ...] = tuple(_DATA["stem_suffixes"])  # longest first where one ends another


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'published' with 'publishes', cheap and language-light."""
    if word.endswith("'s"):
        word = word[:-2]
    for suffix in _STEM_SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_stems(text: str) -> list[str]:
    """Stems of the content words of a text, in order, duplicates kept."""
    # Tokens led by a digit ("19th", "4.1bn", "1990s") and number words are numbers, compared by `numbers`.
    return [stem(w) for w in words(text)
            if w not in STOPWORDS and w not in NUMBER_WORDS and not w[0].isdigit() and len(w) > 1]


def numbers(text: str) -> set[str]:
    """The numbers a text states, as values; a scaled amount counts as its bare figure too ("3.7 million": 3.7)."""
    return set().union(*number_mentions(text, bare_figures=True))


def number_mentions(text: str, bare_figures: bool = False) -> list[frozenset[str]]:
    """Each number of a text as a value, so formats compare equal: 4.1bn = 4.1 billion, 1,000 = one thousand.

    Spelled numbers count from two up ("one" is more often a pronoun than a quantity).
    """
    mentions: list[frozenset[str]] = []
    spans: list[tuple[int, int, float | None]] = []  # where each mention is, and its value, for units
    halves = list(_HALF_UNIT.finditer(text))

    def in_half(at: int) -> bool:  # the "two" and "half" of "two and a half hours" are read below
        return any(h.start() <= at < h.end() for h in halves)

    for match in _SCALED.finditer(text):
        if in_half(match.start()):
            continue
        currency, figure, scale = match.groups()
        figure = figure.replace(",", "")
        value = _value(figure)
        if value is None:  # "1.2.3": a version or a date, compared as written
            mentions.append(frozenset({figure}))
            spans.append((match.start(), match.end(), None))
            continue
        forms = {_canonical(value)}
        end = match.end()
        if scale and (currency or scale.lower() not in _CURRENCY_ONLY):
            value = value * _SCALES[scale.lower()]
            forms = forms | {_canonical(value)} if bare_figures else {_canonical(value)}
        elif scale:  # "330 m": a unit, read as one below
            end = match.end(2)
        if currency:  # "$4.1bn" is 4.1e9@$ as "4.1 billion dollars" is, and still the plain amount
            forms.add(f"{_canonical(value)}@{currency.strip()}")
        mentions.append(frozenset(forms))
        spans.append((match.start(), end, None if currency else value))
    fractions = list(_FRACTION.finditer(text.lower()))
    for match in _SPELLED_NUMBER.finditer(text.lower()):
        value = spelled_value(match.group(0))
        inside_fraction = any(f.start() <= match.start() < f.end() for f in fractions)  # the "two" of "two thirds"
        if value is not None and value >= 2 and not inside_fraction and not in_half(match.start()):
            mentions.append(frozenset({_canonical(float(value))}))
            spans.append((match.start(), match.end(), float(value)))
    for match in fractions:
        if in_half(match.start()):
            continue
        percent = _FRACTIONS[re.sub(r"[\s-]+", " ", match.group(0))]
        # "half" and "50%" are one amount; a fraction also stands for its share as a plain number.
        mentions.append(frozenset({_canonical(percent), _canonical(percent / 100)}))
        spans.append((match.start(), match.end(), None))
    mentions = _with_units(text, mentions, spans, bare_figures)
    for match in halves:
        whole, unit, first_unit, only_unit = match.group("whole"), match.group("unit"), match.group("first"), \
            match.group("half_of")
        count = 0.0 if only_unit else 1.0 if whole.lower() in ("a", "an") else _count(whole)
        dimension, size = _UNITS[_singular(only_unit or first_unit or unit)]
        if count is None:
            continue
        amount = (count + 0.5) * size
        forms = {f"{_canonical(amount)}@{dimension}"}
        mentions.append(frozenset(forms | ({_canonical(count + 0.5)} if bare_figures else set())))
    return mentions


# "an hour and a half", "two and a half days", "half an hour": amounts with a half of their unit.
_HALF_COUNT = "|".join(map(re.escape, _DATA["half_unit_counts"]))
_HALF_OF = "|".join(map(re.escape, _DATA["half_units"]))
_HALF_UNIT = re.compile(
    rf"\b(?:(?P<whole>{_HALF_COUNT}|\d+)\s+(?:(?P<first>{_HALF_OF})s?\s+"
    rf"and\s+a\s+half|and\s+a\s+half\s+(?P<unit>{_HALF_OF})s?)|half\s+an?\s+(?P<half_of>{_HALF_OF}))\b",
    re.IGNORECASE)


def _count(word: str) -> float | None:
    word = word.lower()
    return float(word) if word.isdigit() else float(_SPELLED[word]) if word in _SPELLED else None


def _singular(unit: str) -> str:
    return unit.lower().rstrip("s")


# Units of measure, by dimension and size in the dimension's base unit: "50 cm" and "0.5 metres" are
# one length. Metric and time only: converting miles or pounds gives rounded figures that a faithful
# answer would not match exactly anyway.
_UNITS: dict[str, tuple[str, float]] = {w: (d, float(size)) for w, (d, size) in _DATA["units"].items()}
_UNIT = re.compile(r"\s*-?\s*([a-z]+)\b", re.IGNORECASE)
_AND = re.compile(r"\s*(?:,|and|,\s*and)?\s*$", re.IGNORECASE)
_PLURALS: dict[str, str] = dict(_DATA["unit_plurals"])
_MONEY = frozenset(_DATA["money_dimensions"])
UNIT_WORDS = frozenset(_UNITS) | frozenset(u + "s" for u in _UNITS) | frozenset(_PLURALS)


def _unit_after(text: str, end: int) -> tuple[str, float, int] | None:
    """The unit written right after position `end`: its dimension, its size, and where it ends."""
    match = _UNIT.match(text, end)
    if not match:
        return None
    word = match.group(1).lower()
    word = _PLURALS.get(word, word[:-1] if word not in _UNITS and word.endswith("s") else word)
    unit = _UNITS.get(word)
    return (*unit, match.end()) if unit else None


def _with_units(text: str, mentions: list[frozenset[str]], spans: list[tuple[int, int, float | None]],
                bare_figures: bool) -> list[frozenset[str]]:
    """Mentions followed by a unit also carry their size in the base unit ("0.5@m"); adjacent amounts
    of one dimension add up ("two hours and fifteen minutes" is 8100@s, "9 dollars and 99 cents" 9.99@$).

    A claim's measured amount is compared by its size only (bare_figures=False), so "50 km" does
    not match a context's "50 cm"; the contexts keep the bare figure too.
    """
    measured = []  # (index, start, unit end, dimension, size)
    for i, (start, end, value) in enumerate(spans):
        unit = _unit_after(text, end) if value is not None else None
        if unit and value is not None:
            dimension, size, unit_end = unit
            measured.append((i, start, unit_end, dimension, value * size))
    out = list(mentions)
    for i, _start, _end, dimension, size in measured:
        # Money keeps its plain amount ("4.1 billion dollars" is the "$4.1bn" and the "4.1bn" of a context).
        plain = bare_figures or dimension in _MONEY
        out[i] = frozenset({f"{_canonical(size)}@{dimension}"}) | (mentions[i] if plain else frozenset())
    # Runs of amounts of one dimension joined by "and" or a comma: their total is an amount too.
    measured.sort(key=lambda m: m[1])
    run: list = []
    for m in measured + [None]:
        if m is not None and run and m[3] == run[-1][3] and _AND.fullmatch(text[run[-1][2]:m[1]]):
            run.append(m)
            continue
        if len(run) > 1:
            total = f"{_canonical(sum(r[4] for r in run))}@{run[0][3]}"
            for r in run:
                out[r[0]] = out[r[0]] | {total}
        run = [m] if m is not None else []
    return out


# Fractions written as words, as percentages: "roughly half" is not "roughly a third". "third" alone
# is mostly an ordinal ("the third season"), so thirds and quarters need their count word.
_FRACTIONS: dict[str, float] = {w: float(v) for w, v in _DATA["fractions"].items()}
# Written with a space or a hyphen ("two-thirds"); "half time", "half brother" are no amounts.
_FRACTION = re.compile(
    r"\b(?:" + "|".join(r"[\s-]+".join(map(re.escape, f.split())) for f in sorted(_FRACTIONS, key=len, reverse=True))
    + r")\b(?![\s-]+(?:" + "|".join(map(re.escape, _DATA["fraction_not_before"])) + "))")


def spelled_value(phrase: str) -> int | None:
    """The value of number words: "forty-two thousand" is 42000, "two hundred and fifty" is 250; None for none."""
    raw = [w for w in re.split(r"[\s-]+", phrase.lower()) if w]
    words = [w for w in raw if w not in ("and", "a")]
    # "million" alone is the scale of a figure before it ("3.7 million"), not a number of its own.
    if not words or (words[0] in ("hundred", "thousand", "million", "billion") and raw[0] != "a"):
        return None
    total = current = 0
    for word in words:
        if word in ("hundred",):
            current = max(current, 1) * 100
        elif word in ("thousand", "million", "billion"):
            total += max(current, 1) * int(_SCALES[word])
            current = 0
        else:
            current += _SPELLED[word]
    return total + current


def _value(figure: str) -> float | None:
    try:
        return float(figure)
    except ValueError:
        return None


def _canonical(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.6g}"


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
    return sum(negation_words(text).values()) % 2 == 1


def is_negation(word: str) -> bool:
    """True for a lower-cased word that negates: not, no, never, none, without, any n't..."""
    return word in NEGATIONS or word.endswith("n't")


def negation_words(text: str) -> dict[str, int]:
    """The negations of a text by kind ("not" for every n't and cannot, "never", "no" for none/nobody/nothing...)."""
    counts: dict[str, int] = {}
    for w in words(text.lower().replace("’", "'")):
        if is_negation(w):
            kind = "not" if w in ("not", "cannot") or w.endswith("n't") else "never" if w == "never" else \
                "without" if w == "without" else "neither" if w in ("neither", "nor") else "no"
            counts[kind] = counts.get(kind, 0) + 1
    return counts


# Answers that hold no statement: a placeholder, punctuation, an emoji.
PLACEHOLDERS = frozenset(_DATA["placeholders"])


def content_free(sentence: str) -> bool:
    """True when a sentence states nothing: no word or number at all, or a placeholder such as "N/A"."""
    stripped = sentence.strip().strip(".!").lower()
    return not words(sentence) or stripped in PLACEHOLDERS


_INITIAL_SKIP = frozenset(_DATA["initial_skip"])


def original_case(sentence: str) -> dict[str, str]:
    """Each lower-cased word of a sentence as it is written there."""
    return {w.lower().replace("’", "'"): w for w in _WORD.findall(sentence)}


def acronym_of(word: str, passage: str) -> bool:
    """True when `word` abbreviates words of the passage: "WHO" (World Health Organization), "St." (Saint).

    An acronym (two or more capitals) must spell the initials of consecutive words ("of", "the"
    may sit between them); a short form with a dot or of up to four letters must be a word's first
    letter followed by some of its letters in order.
    """
    letters = word.replace(".", "").replace("-", "")
    if len(letters) >= 2 and letters.isupper():
        return letters.lower() in _initials(passage)
    if 2 <= len(letters) <= 4 and letters[:1].isupper():
        lowered = letters.lower()
        return any(len(w) > len(lowered) and w[0] == lowered[0] and _in_order(lowered, w) and w[:1] == lowered[:1]
                   for w in (t.lower() for t in _WORD.findall(passage)) if len(w) >= 4)
    return False


def spelled_out(sentence: str, passage: str) -> set[str]:
    """Lower-cased words of the sentence spelling out an abbreviation the passage uses ("United States" for "U.S.")."""
    short = {t.replace(".", "") for t in re.findall(r"\b(?:[A-Z]\.?){2,}|\b[A-Z][a-z]{0,3}\.", passage)}
    found = set()
    for initials, phrase in _phrases(sentence):
        if initials.upper() in short:
            found |= {w.lower() for w in phrase}
    for w in _WORD.findall(sentence):
        if any(a[:1] == w[:1] and len(w) > len(a) and _in_order(a.lower(), w.lower()) for a in short
               if not a.isupper()):
            found.add(w.lower())
    return found


def _in_order(letters: str, word: str) -> bool:
    it = iter(word)
    return all(ch in it for ch in letters)


@lru_cache(maxsize=4096)
def _initials(passage: str) -> frozenset[str]:
    # Called once per unmatched word of a claim against the same passage: built once per passage.
    return frozenset(initials for initials, _ in _phrases(passage))


def _phrases(passage: str, longest: int = 6) -> list[tuple[str, list[str]]]:
    """Every run of two or more consecutive words (linking words allowed inside) with the initials of the others."""
    tokens = _WORD.findall(passage)
    out = []
    for start in range(len(tokens)):
        if tokens[start].lower() in _INITIAL_SKIP:
            continue
        phrase = []
        for token in tokens[start:start + longest + 2]:
            phrase.append(token)
            kept = [t for t in phrase if t.lower() not in _INITIAL_SKIP]
            if len(kept) >= 2 and token.lower() not in _INITIAL_SKIP:
                out.append(("".join(t[0] for t in kept).lower(), list(phrase)))
    return out


# Function words of the languages users most often send that are not English words: articles,
# prepositions, pronouns and auxiliaries of French, German, Spanish, Italian, Portuguese and Dutch.
FOREIGN_FUNCTION_WORDS = frozenset(w for language in _DATA["foreign_function_words"].values()
                                   for w in language) - STOPWORDS


def english(sentence: str) -> bool:
    """A cheap guess: False only when the sentence has more function words of another language than of English.

    Names, numbers and terse phrases ("Robert Childers DSC, Irish nationalist") have neither and
    count as English: the checks that need English words then simply find nothing to object to.
    """
    tokens = words(sentence)
    foreign = sum(t in FOREIGN_FUNCTION_WORDS for t in tokens)
    return foreign < 2 or foreign <= sum(t in STOPWORDS for t in tokens)


def evasive(text: str) -> bool:
    """True when the answer declines to answer."""
    return bool(EVASIONS.search(text.lower().replace("’", "'")))
