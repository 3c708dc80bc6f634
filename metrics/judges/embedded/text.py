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
# A number and the scale written after it: "4.1bn", "4.1 billion", "3.7 million", "12 percent", "5k".
_SCALED = re.compile(r"([$€£]\s?)?(\d+(?:[.,]\d+)*)(?:\s*(trillion|billion|bn|million|mn|m|thousand|k)\b)?",
                     re.IGNORECASE)
# "5m" and "5k" are amounts only after a currency sign; "330 m" is a height.
_CURRENCY_ONLY = {"m", "k"}
_SCALES = {"trillion": 1e12, "billion": 1e9, "bn": 1e9, "million": 1e6, "mn": 1e6, "m": 1e6, "thousand": 1e3, "k": 1e3}
_SPELLED = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                       "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}
_SPELLED.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
                 "hundred": 100, "thousand": 1000, "dozen": 12})
_NUMBER_WORD = "|".join(sorted([*_SPELLED, "million", "billion", "and", "a"], key=len, reverse=True))
# A run of number words: "forty-two thousand", "two hundred and fifty", "a dozen".
_SPELLED_NUMBER = re.compile(rf"\b(?:{_NUMBER_WORD})(?:[\s-]+(?:{_NUMBER_WORD}))*\b", re.IGNORECASE)

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

NUMBER_WORDS = frozenset(_SPELLED) | frozenset("percent per cent million billion trillion bn mn".split())

NEGATIONS = frozenset("""
not no never none nobody nothing neither nor n't cannot without don't doesn't didn't isn't wasn't
weren't won't can't couldn't shouldn't wouldn't hasn't haven't hadn't aren't
""".split())

# Phrases by which an answer declines to answer. Checked on the whole answer, lower-cased.
EVASIONS = re.compile(
    r"\b(i (do not|don't|dont) know|i'?m not sure|i am not sure|not sure|no idea|"
    r"cannot (be )?(determined|answered|found)|"
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
_HALF_UNIT = re.compile(
    r"\b(?:(?P<whole>an?|one|two|three|four|five|six|seven|eight|nine|ten|\d+)\s+(?:(?P<first>hour|minute|day|week)s?\s+"
    r"and\s+a\s+half|and\s+a\s+half\s+(?P<unit>hour|minute|day|week)s?)|half\s+an?\s+(?P<half_of>hour|minute|day|week))\b",
    re.IGNORECASE)


def _count(word: str) -> float | None:
    word = word.lower()
    return float(word) if word.isdigit() else float(_SPELLED[word]) if word in _SPELLED else None


def _singular(unit: str) -> str:
    return unit.lower().rstrip("s")


# Units of measure, by dimension and size in the dimension's base unit: "50 cm" and "0.5 metres" are
# one length. Metric and time only: converting miles or pounds gives rounded figures that a faithful
# answer would not match exactly anyway.
_UNITS = {
    "mm": ("m", 1e-3), "millimetre": ("m", 1e-3), "millimeter": ("m", 1e-3),
    "cm": ("m", 1e-2), "centimetre": ("m", 1e-2), "centimeter": ("m", 1e-2),
    "m": ("m", 1.0), "metre": ("m", 1.0), "meter": ("m", 1.0),
    "km": ("m", 1e3), "kilometre": ("m", 1e3), "kilometer": ("m", 1e3),
    "mg": ("g", 1e-3), "milligram": ("g", 1e-3), "g": ("g", 1.0), "gram": ("g", 1.0), "gramme": ("g", 1.0),
    "kg": ("g", 1e3), "kilogram": ("g", 1e3), "kilogramme": ("g", 1e3), "kilo": ("g", 1e3),
    "tonne": ("g", 1e6),
    "ml": ("l", 1e-3), "millilitre": ("l", 1e-3), "milliliter": ("l", 1e-3),
    "l": ("l", 1.0), "litre": ("l", 1.0), "liter": ("l", 1.0),
    "s": ("s", 1.0), "sec": ("s", 1.0), "second": ("s", 1.0), "min": ("s", 60.0), "minute": ("s", 60.0),
    "h": ("s", 3600.0), "hr": ("s", 3600.0), "hour": ("s", 3600.0), "day": ("s", 86400.0),
    "week": ("s", 604800.0),
    "dollar": ("$", 1.0), "cent": ("$", 0.01), "euro": ("€", 1.0), "pound": ("£", 1.0), "penny": ("£", 0.01),
    "pence": ("£", 0.01),
}
_UNIT = re.compile(r"\s*-?\s*([a-z]+)\b", re.IGNORECASE)
_AND = re.compile(r"\s*(?:,|and|,\s*and)?\s*$", re.IGNORECASE)
_PLURALS = {"pennies": "penny"}
_MONEY = frozenset("$€£")
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
_FRACTIONS = {"half": 50.0, "a third": 100 / 3, "one third": 100 / 3, "two thirds": 200 / 3,
              "a quarter": 25.0, "one quarter": 25.0, "three quarters": 75.0}
_FRACTION = re.compile(r"\b(?:two[\s-]+thirds|(?:a|one)[\s-]+third|(?:a|one)[\s-]+quarter|three[\s-]+quarters|half)\b"
                       r"(?![\s-]+(?:time|way|hour|century|decade|brother|sister|marathon|back|life))")


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


def negation_words(text: str) -> dict[str, int]:
    """The negations of a text by kind ("not" for every n't and cannot, "never", "no" for none/nobody/nothing...)."""
    counts: dict[str, int] = {}
    for w in words(text.lower().replace("’", "'")):
        if w in NEGATIONS or w.endswith("n't"):
            kind = "not" if w in ("not", "cannot") or w.endswith("n't") else "never" if w == "never" else \
                "without" if w == "without" else "neither" if w in ("neither", "nor") else "no"
            counts[kind] = counts.get(kind, 0) + 1
    return counts


# Answers that hold no statement: a placeholder, punctuation, an emoji.
PLACEHOLDERS = frozenset("n/a na n.a. none nil null tbd tba todo unknown - -- ? ... nothing".split())


def content_free(sentence: str) -> bool:
    """True when a sentence states nothing: no word or number at all, or a placeholder such as "N/A"."""
    stripped = sentence.strip().strip(".!").lower()
    return not words(sentence) or stripped in PLACEHOLDERS


_INITIAL_SKIP = frozenset("of the and for de du des la le".split())


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
FOREIGN_FUNCTION_WORDS = frozenset("""
de et y le la les un une des du au aux est sont ont été avec pour dans sur par qui que ne pas ce cette ces il elle
ils nous vous leur mais où très être avoir fait
der die das den dem des ein eine einer eines und ist sind wurde wurden hat haben mit für auf von zu im nicht
auch sich wie oder aber nach bei aus ich sie wir
el los las una unos unas del al es son fue fueron con para por en sobre pero muy como más también
il lo gli della delle dei degli nel nella è sono stato stata con per che non anche
o os um uma umas uns da das dos do na nas nos em com não foi são
het een en van op voor zijn werd werden niet ook bij naar ik wij
""".split()) - STOPWORDS


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
