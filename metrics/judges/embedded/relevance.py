"""The embedded judge's answer relevancy: how fully and directly the answer addresses the question.

Similarity between a question and its answer alone ranks a partial answer close to a full one, so
this combines several bounded signals:
- `similarity`: the best cosine between the question and one of the answer's sentences;
- `coverage`: the share of the question's key terms (names, numbers, content words) the answer
  takes up, since a complete answer usually speaks about every entity the question names;
- `answer_type`: whether the answer carries what the question's wh-word asks for (a number for
  "how many", a date for "when", a name for "who", yes/no for a polar question);
- `evasion`: hedging cues in the answer; a wholly evasive answer is noncommittal and scores 0;
- `parts`: for a question in several parts ("Where was she born, and which prizes did she win?"),
  the share of parts that some sentence of the answer is close to: answering one part of two costs
  up to 60% of the score, however closely that part is worded.
"""
from __future__ import annotations

import re

import numpy as np

from ...judgements import Relevance
from . import text, wordlists

# Weights of the signals; checked for the right ordering (full > partial > off-topic > evasive)
# on examples built from the HotpotQA dev set by bench/relevance_order.py.
WEIGHTS = {"similarity": 0.5, "coverage": 0.3, "answer_type": 0.2}

# The word lists live in assets/words/relevance.json.
_WORDS = wordlists.load("relevance")


def _either(words: list[str]) -> str:
    return "|".join(map(re.escape, words))


_YES_NO = re.compile(rf"^\s*({_either(_WORDS['yes_no'])})\b", re.I)
_POLAR = re.compile(rf"^\s*({_either(_WORDS['polar_starts'])})\b", re.I)
# Where a question asks a second thing: "..., and which ...", "...; when ...", "...? Also, ...".
_PART_BREAK = re.compile(rf"\?\s+|;\s*|,?\s+(?:{_either(_WORDS['part_joiners'])})\s+"
                         rf"(?=(?:{_either(_WORDS['part_starts'])})\b)", re.IGNORECASE)
# A part is answered when some answer sentence is this close to it (fully from PART_FULL up).
PART_SIMILARITY, PART_FULL = 0.35, 0.6
_DATE = re.compile(r"\b(1[0-9]{3}|20[0-9]{2}|" + _either(_WORDS["months"]) + r")\b", re.I)
# Words of a quantity, for a "how many" question answered in words.
_QUANTITY = re.compile(rf"\b({_either(_WORDS['quantity_words'])})\b", re.I)
_QUANTITY_QUESTIONS = tuple(_WORDS["quantity_questions"])
_DATE_QUESTIONS = tuple(_WORDS["date_questions"])
_NAME_QUESTIONS = tuple(_WORDS["name_questions"])


def estimate(encode, question: str, answer: str, noncommittal: bool) -> Relevance:
    """Relevance of the answer to the question, in [0, 1], with the signals behind it.

    `encode` maps texts to unit vectors; the answer's sentences are the ones its claims use, so a
    caching encoder embeds them once for both metrics.
    """
    if noncommittal:
        return Relevance(noncommittal=True, estimate=0.0, signals={"evasion": 1.0})
    vectors = np.asarray(encode(texts_to_encode(question, answer)))
    sims = vectors[1:] @ vectors[0]
    similarity = float(np.clip((float(np.max(sims)) - 0.1) / 0.6, 0.0, 1.0))
    kind = answer_type(question, answer)
    covered = coverage(question, answer)
    if len(text.words(answer)) <= 4:
        # A bare answer ("Chief of Protocol") restates nothing of the question; when it is the kind
        # of thing asked for, it answers it whole.
        covered = max(covered, kind)
    signals = {
        "similarity": round(similarity, 4),
        "coverage": round(covered, 4),
        "answer_type": kind,
        "evasion": float(text.evasive(answer)),
    }
    score = sum(w * signals[name] for name, w in WEIGHTS.items())
    # Hedging next to a real answer costs a quarter: it answers, but less directly.
    score *= 0.75 if signals["evasion"] else 1.0
    parts = question_parts(question)
    if len(parts) > 1:
        part_vectors = np.asarray(encode(parts))
        closeness = (vectors[1:] @ part_vectors.T).max(axis=0)
        answered = float(np.mean(np.clip((closeness - PART_SIMILARITY) / (PART_FULL - PART_SIMILARITY), 0.0, 1.0)))
        signals["parts"] = round(answered, 4)
        score *= 0.4 + 0.6 * answered
    return Relevance(estimate=round(float(np.clip(score, 0.0, 1.0)), 4), signals=signals)


def texts_to_encode(question: str, answer: str) -> list[str]:
    """What `estimate` embeds: the question and the answer's first sentences."""
    return [question] + (text.sentences(answer) or [answer])[:8]


def question_parts(question: str) -> list[str]:
    """The things a question asks, when it asks more than one (a part holds a content word); else the question."""
    parts = [p.strip(" ,?") for p in _PART_BREAK.split(question)]
    parts = [p for p in parts if text.content_stems(p)]
    return parts if len(parts) > 1 else [question]


def coverage(question: str, answer: str) -> float:
    """Share of the question's names and content words that the answer mentions (names weigh double)."""
    q_names = text.names(" " + question)
    q_words = set(text.content_stems(question)) - q_names
    a_words = set(text.content_stems(answer)) | text.names(" " + answer)
    total = 2 * len(q_names) + len(q_words)
    if total == 0:
        return 1.0
    return (2 * len(q_names & a_words) + len(q_words & a_words)) / total


def answer_type(question: str, answer: str) -> float:
    """1 when the answer carries the kind of thing the question asks for, 0 when it plainly does not."""
    q = question.strip().lower()
    if _POLAR.match(q):
        return 1.0 if _YES_NO.match(answer) or len(text.words(answer)) > 3 else 0.5
    if q.startswith(_QUANTITY_QUESTIONS):
        return 1.0 if text.numbers(answer) or _QUANTITY.search(answer) else 0.0
    if q.startswith(_DATE_QUESTIONS):
        return 1.0 if _DATE.search(answer) or text.numbers(answer) else 0.3
    if q.startswith(_NAME_QUESTIONS):
        return 1.0 if text.names(" " + answer) or answer[:1].isupper() else 0.5
    return 1.0
