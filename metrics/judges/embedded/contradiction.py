"""Explicit contradictions between a claim and the context sentence that best matches it.

The support scorer measures how much of a claim the contexts hold; a claim that reuses its
evidence's words to say the opposite looks well supported to it. These rules catch the common
ways of saying the opposite: an added or dropped negation, an antonym, a changed number, another
name in the same statement, and swapped roles ("A acquired B" for "B acquired A"). Each fires only
when the rest of the claim matches the sentence closely, so a claim about something else is
left to the support scorer.
"""
from __future__ import annotations

import re
from functools import lru_cache

from . import negation, text, wordlists

# The word lists live in assets/words/contradiction.json; this module keeps the rules that read them.
_DATA = wordlists.load("contradiction")

# Opposite words, as written (any form is stemmed): a claim holding one where its evidence holds the
# other says the opposite. Common verbs, adjectives and comparatives of news, business and science.
ANTONYMS: dict[str, set[str]] = {}
for _a, _b in ((text.stem(a), text.stem(b)) for a, b in _DATA["antonym_pairs"]):
    ANTONYMS.setdefault(_a, set()).add(_b)
    ANTONYMS.setdefault(_b, set()).add(_a)
# Function words are not content words, so they are compared as written; the first pair found is reported.
_FUNCTION_PAIRS: tuple[tuple[str, str], ...] = tuple((a, b) for a, b in _DATA["function_word_pairs"])
_NEGATING_PREFIXES: tuple[str, ...] = tuple(_DATA["negating_prefixes"])

_CAPITALISED = re.compile(r"\b[A-Z][\w'’.-]*[A-Za-z0-9]")

CLOSE_SIMILARITY = 0.7  # the sentence is about the same thing as the claim
CLOSE_COVERAGE = 0.75  # and holds most of its content words
NEGATION_SIMILARITY = 0.55  # a sentence holding all of the claim's content words, for the negation rule


def coverage(claim_stems: frozenset[str], sentence: str) -> float:
    """Share of the claim's content stems that occur in the sentence."""
    if not claim_stems:
        return 1.0
    return len(claim_stems & set(text.content_stems(sentence))) / len(claim_stems)


def find(claim_text: str, claim_stems: frozenset[str], claim_mentions, sentence: str, similarity: float,
         context_numbers: frozenset[str], contexts_normalised: list[str]) -> str | None:
    """Why the claim contradicts `sentence` (its closest context sentence), or None when it does not.

    `contexts_normalised` are the contexts, lower-cased: a name found anywhere in them is not new.
    """
    if similarity < NEGATION_SIMILARITY:
        return None
    covered = coverage(claim_stems, sentence)
    # Negation, opposites and roles are read with English word lists; other languages get the
    # language-neutral checks only (numbers and names).
    english = text.english(claim_text)
    close = similarity >= CLOSE_SIMILARITY and covered >= CLOSE_COVERAGE
    # An opposite word under a negation says the same: "open" for "not closed" is no contradiction, on either count.
    flips = flipped(claim_text, claim_stems, sentence) if english else frozenset()
    # A sentence that holds every content word of the claim is about the same thing even when it says more
    # ("The museum reopened in May after a two-year renovation." for "The museum did not reopen in May.").
    if english and (close or covered == 1.0) and not flips and negation.clash(claim_text, claim_stems, sentence):
        return f'negation differs from the closest sentence: "{sentence[:160]}"'
    if similarity < CLOSE_SIMILARITY:
        return None
    sentence_stems = set(text.content_stems(sentence))
    opposite = _opposite(claim_text, claim_stems - flips, sentence, sentence_stems) if english else None
    if opposite:
        return f'{opposite}: "{sentence[:160]}"'
    sentence_numbers = text.numbers(sentence)
    changed = [m for m in claim_mentions if not m & context_numbers]
    if changed and sentence_numbers and covered >= CLOSE_COVERAGE:
        return (f"number {sorted(changed[0])[0]} is not in the contexts; the closest sentence says "
                f'{", ".join(sorted(sentence_numbers)[:3])}: "{sentence[:160]}"')
    spelled = text.spelled_out(claim_text, sentence)
    other_names = [n for n in _names(claim_text)
                   if not any(re.search(r"\b" + re.escape(n.lower()) + r"\b", c) for c in contexts_normalised)
                   and n.lower() not in spelled and not text.acronym_of(n, sentence)]
    if other_names and covered >= CLOSE_COVERAGE and similarity >= 0.75:
        return f'{other_names[0]} is not in the contexts, where the closest sentence names others: "{sentence[:160]}"'
    swapped = (_swapped_roles(claim_text, sentence) or _swapped_around(claim_text, sentence)
               if english and covered >= CLOSE_COVERAGE else None)
    if swapped:
        return f'{swapped}: "{sentence[:160]}"'
    other = _other_name_in_slot(claim_text, sentence) if english and covered >= CLOSE_COVERAGE else None
    if other:
        return f'{other}: "{sentence[:160]}"'
    return None


_TOKEN = re.compile(r"[\w'’.-]+|[^\w\s]")
_TITLES = frozenset(_DATA["titles"])


def _other_name_in_slot(claim: str, sentence: str) -> str | None:
    """'held in Copenhagen' where the sentence says 'held in Oslo' (and names Copenhagen elsewhere).

    The two words before a name of the claim are its slot; when the sentence fills that slot only
    with other names, the claim put a name of the sentence in the wrong place.
    """
    ours, theirs = _TOKEN.findall(claim), _TOKEN.findall(sentence)
    slots: dict[tuple[str, str], list[str]] = {}  # one pass over the sentence, whatever the claim's length
    for j in range(len(theirs) - 2):
        filler = _filler(theirs, j + 2)
        if filler:
            slots.setdefault((theirs[j].lower(), theirs[j + 1].lower()), []).append(filler)
    present = set(theirs)
    for i in range(2, len(ours)):
        name = ours[i]
        if not name[:1].isupper() or not ours[i - 1].islower() or not ours[i - 2].islower():
            continue
        slot = (ours[i - 2].lower(), ours[i - 1].lower())
        fillers = slots.get(slot, [])
        if fillers and name not in fillers and name in present:
            return f'the closest sentence has "{" ".join(slot)} {fillers[0]}", not "{name}"'
    return None


def _filler(tokens: list[str], at: int) -> str | None:
    """The capitalised word at `at`, past a title ("Dr. Ines Valcourt" is filled by "Ines")."""
    while at < len(tokens) and tokens[at].lower() in _TITLES:
        at += 1
    return tokens[at] if at < len(tokens) and tokens[at][:1].isupper() else None


def _opposite(claim: str, claim_stems: frozenset[str], sentence: str, sentence_stems: set[str]) -> str | None:
    """A word of the claim whose opposite the sentence holds instead, the rest of the claim matching it."""
    for stem in claim_stems - sentence_stems:
        rest = claim_stems - {stem}
        if rest and len(rest & sentence_stems) / len(rest) < CLOSE_COVERAGE:
            continue
        opposite = ANTONYMS.get(stem, set()) & sentence_stems
        opposite |= {s for s in sentence_stems - claim_stems if _prefixed(stem, s) or _prefixed(s, stem)}
        if opposite:
            return f'"{stem}" where the closest sentence says "{sorted(opposite)[0]}"'
    if len(claim_stems & sentence_stems) >= CLOSE_COVERAGE * max(1, len(claim_stems)):
        ours, theirs = set(text.words(claim)), set(text.words(sentence))
        for a, b in _FUNCTION_PAIRS:
            for x, y in ((a, b), (b, a)):
                if x in ours and y in theirs and y not in ours and x not in theirs:
                    return f'"{x}" where the closest sentence says "{y}"'
    return None


@lru_cache(maxsize=4096)  # read for the features, the rules and the rewording check of one claim
def flipped(claim: str, claim_stems: frozenset[str], sentence: str) -> frozenset[str]:
    """Content words of the claim whose opposite the sentence holds with the negation turned the other way.

    "The bridge was open." and "The bridge was not closed.": "open" is said by the sentence, in other words.
    Opposites that are negations themselves ("never" for "always") are left out.
    """
    sentence_stems = {s for s in text.content_stems(sentence) if not text.is_negation(s)}
    found = frozenset(stem for stem in claim_stems - sentence_stems if not text.is_negation(stem)
                      and (ANTONYMS.get(stem, set()) & sentence_stems
                           or any(_prefixed(stem, s) or _prefixed(s, stem) for s in sentence_stems - claim_stems)))
    return found if found and negation.clash(claim, claim_stems, sentence) else frozenset()


def unflipped(sentence: str, claim: str, flips: frozenset[str]) -> str:
    """The sentence with each flipped opposite written as the claim's word and its negation dropped.

    "The bridge was not closed during the storm." for "The bridge was open ...": "The bridge was open during
    the storm.", which an encoder can compare with the claim as a plain rewording.
    """
    ours = {text.stem(w): w for w in text.words(claim)}
    tokens = re.findall(r"[\w'’-]+|[^\w\s]+|\s+", sentence)
    for i, token in enumerate(tokens):
        word = token.lower().replace("’", "'")
        stem = text.stem(word)
        flip = next((f for f in flips if stem in ANTONYMS.get(f, ()) or _prefixed(stem, f) or _prefixed(f, stem)), None)
        if flip is None:
            continue
        tokens[i] = ours.get(flip, token)
        # The negation of this word: the nearest before it, a few words back ("not closed", "wasn't really open");
        # when the sentence has none, the claim holds it ("not open" for "closed"), and so does the rewrite.
        back = [j for j in range(i - 1, max(-1, i - 8), -1) if not tokens[j].isspace()]
        for j in back[:4]:
            low = tokens[j].lower().replace("’", "'")
            if low.endswith("n't"):
                tokens[j] = tokens[j][:-3] or tokens[j]
                break
            if text.is_negation(low):
                tokens[j] = ""
                break
        else:
            tokens[i] = "not " + tokens[i]
    return re.sub(r"\s{2,}", " ", "".join(tokens)).strip()


def _prefixed(word: str, base: str) -> bool:
    """True when `word` is `base` with a negating prefix: "unstable" and "stable"."""
    return len(base) >= 4 and any(word == p + base for p in _NEGATING_PREFIXES)


def _names(sentence: str) -> list[str]:
    """Capitalised words after the first, a cheap stand-in for named entities."""
    found = _CAPITALISED.findall(sentence)
    first = sentence.lstrip()[:1].isupper()
    names = [n for i, n in enumerate(found) if not (i == 0 and first and sentence.lstrip().startswith(n))
             and n.lower() not in text.STOPWORDS]
    return [re.sub(r"['’]s$", "", n) for n in names]  # "SDK's" is the SDK


_CLAUSE = re.compile(r"[,;:()]|\b(?:" + "|".join(map(re.escape, _DATA["clause_words"])) + r")\b", re.IGNORECASE)
_SIDE = 3  # content words taken on each side of the shared word
_OBJECT_STARTS = frozenset(_DATA["object_starts"])


def _swapped_roles(claim: str, sentence: str) -> str | None:
    """'A sued B' against 'B sued A': around a word both share, who is on which side is reversed.

    The sides are the nearest content words before and after the shared word within its clause.
    Only active clauses count: a passive one ("B was sued by A") says the same with the sides
    reversed, so a clause holding "by" is left out.
    """
    for pivot, ours in _roles(claim).items():
        theirs = _roles(sentence).get(pivot)
        if theirs is None:
            continue
        (agent, patient), (their_agent, their_patient) = ours, theirs
        if agent & their_patient and patient & their_agent and not agent & their_agent:
            return f'who does what is reversed around "{pivot}"'
    return None


_PASSIVE_BY = 2  # "was beaten by", "released by": "by" within this many words after the verb


def _swapped_around(claim: str, sentence: str) -> str | None:
    """'Spain will host Germany' against 'Germany will host Spain': the names nearest either side of a
    word both share trade places. A passive side ("was beaten by") has its sides turned first.

    Whole sentences, not clauses, and no adjacency needed, unlike `_swapped_roles`; only words that
    occur once in each keep the sides unambiguous.
    """
    ours, theirs = _sides(claim), _sides(sentence)
    # Names only: between common words, the nearest neighbours move in every rewording.
    names = {text.stem(n.lower()) for n in _names(claim) + _names(sentence)}
    for pivot, (before, after) in ours.items():
        if pivot not in theirs or before not in names or after not in names:
            continue
        their_before, their_after = theirs[pivot]
        if before == their_after and after == their_before:
            return f'who does what is reversed around "{pivot}"'
    return None


def _sides(sentence: str) -> dict[str, tuple[str, str]]:
    """For each content word used once: the nearest content word before and after it (agent first)."""
    tokens = text.words(sentence)
    content = [(i, text.stem(w)) for i, w in enumerate(tokens)
               if w not in text.STOPWORDS and not w[0].isdigit() and len(w) > 1]
    counts: dict[str, int] = {}
    for _, st in content:
        counts[st] = counts.get(st, 0) + 1
    out = {}
    for k, (i, pivot) in enumerate(content):
        before = content[k - 1][1] if k > 0 else None
        after = content[k + 1][1] if k + 1 < len(content) else None
        if counts[pivot] > 1 or before is None or after is None or counts[before] > 1 or counts[after] > 1:
            continue
        if "by" in tokens[i + 1:i + 1 + _PASSIVE_BY]:
            before, after = after, before
        out[_lemma(pivot)] = (before, after)
    return out


def _roles(sentence: str) -> dict[str, tuple[set[str], set[str]]]:
    """For each content word: the content stems on its agent side and on its patient side, in its clause."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    for clause in _CLAUSE.split(sentence):
        tokens = text.words(clause)
        if "by" in tokens:
            continue
        content = [(i, text.stem(w)) for i, w in enumerate(tokens)
                   if w not in text.STOPWORDS and not w[0].isdigit() and len(w) > 1]
        for k, (i, pivot) in enumerate(content):
            before = {st for _, st in content[max(0, k - _SIDE):k]}
            after = {st for _, st in content[k + 1:k + 1 + _SIDE]}
            # A verb between its subject and its object: a content word right before it, and right
            # after it an object (content word, article or possessive).
            subject_next_to_it = k > 0 and content[k - 1][0] == i - 1
            object_next_to_it = i + 1 < len(tokens) and (tokens[i + 1] in _OBJECT_STARTS or
                                                         (k + 1 < len(content) and content[k + 1][0] == i + 1))
            if before and after and subject_next_to_it and object_next_to_it:
                out.setdefault(_lemma(pivot), (before, after))
    return out


def _lemma(stem: str) -> str:
    # "beat" and "beaten", "mentor" and "mentored": the same word for the role check.
    return stem[:5] if len(stem) > 5 else stem


# Words that limit a statement to some of the cases, to a possibility or to an intention. A claim
# that drops every one of them ("Residents opposed" for "Some residents opposed", "has opened" for
# "plans to open") or puts a universal in their place ("all patients" for "most patients") says more
# than its evidence. "can" and "would" are left out: contexts use them for plain facts and reports.
HEDGES = frozenset(_DATA["hedges"])
UNIVERSALS = frozenset(_DATA["universals"])


def overstated(claim_text: str, claim_stems: frozenset[str], sentence: str, similarity: float) -> str | None:
    """How the claim says more than `sentence`, its closest context sentence, by dropping its limits; else None."""
    if similarity < CLOSE_SIMILARITY or coverage(claim_stems, sentence) < CLOSE_COVERAGE:
        return None
    ours = _limits(claim_text)
    # Only a limit on what the claim restates counts: the word it limits ("some *areas*", "plans to
    # *open*") must be the claim's; "his squad could include ..." limits another clause.
    hedges = {h for h, limited in _limited(sentence) if limited in claim_stems}
    if not hedges or ours & HEDGES:
        return None
    universal = sorted((ours & UNIVERSALS) - _limits(sentence))
    said = min(hedges)
    if universal:
        return f'"{universal[0]}" where the closest sentence says "{said}": "{sentence[:160]}"'
    return f'the closest sentence limits it ("{said}"), the claim does not: "{sentence[:160]}"'


def _limited(sentence: str) -> list[tuple[str, str]]:
    """Each hedge of the sentence with the stem of the content word it limits (the next one)."""
    tokens = text.words(_unhedged_superlatives(sentence))
    out = []
    for i, word in enumerate(tokens):
        if word in HEDGES:
            following = next((w for w in tokens[i + 1:i + 4] if w not in text.STOPWORDS and not w[0].isdigit()), None)
            if following is not None:
                out.append((word, text.stem(following)))
    return out


def _unhedged_superlatives(sentence: str) -> str:
    # "the most gifted" is a superlative, not a share of the cases; "May" is a month.
    sentence = re.sub(r"\bMay\b", " ", sentence)
    return re.sub(r"\b(?:the|one of the|among the|[\w']+'s)\s+most\b", " ", sentence.lower())


def _limits(sentence: str) -> set[str]:
    return set(text.words(_unhedged_superlatives(sentence)))
