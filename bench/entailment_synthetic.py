"""Synthetic training claims for the entailment head: edits of HaluEval news sentences and HotpotQA's
supporting sentences (negated, names swapped or exchanged, a number changed, a year added, spliced).

Only training rows are used (HaluEval's and HotpotQA's holdout split never); see train_entailment.py.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import train_support
from faithfulness_sources import DATA, Item
from ragmeter.metrics.judges.embedded.judge import split_claims
from ragmeter.service.analysis.accuracy.split import in_holdout, read_rows

_AUX = re.compile(r"\b(is|was|are|were|has|have|had|will|can|could|would|does|did|should|must)\b")
_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b")


def negated(sentence: str) -> str | None:
    match = _AUX.search(sentence)
    if match is None or re.search(r"\bnot\b|n't", sentence):
        return None
    return sentence[:match.end()] + " not" + sentence[match.end():]


def roles_exchanged(sentence: str) -> str | None:
    """The sentence with its first two names exchanged ("A acquired B" -> "B acquired A")."""
    names = list(dict.fromkeys(m.group(0) for m in _NAME.finditer(sentence)))
    if len(names) < 2:
        return None
    a, b = names[0], names[1]
    return sentence.replace(a, "\0").replace(b, a).replace("\0", b)


def year_added(sentence: str, article: str, k: int) -> str:
    years = [y for y in range(1950, 2015) if str(y) not in article]
    return sentence.rstrip(".") + f" in {years[k % len(years)]}."


def synthetic_items() -> list[Item]:
    """News edits (source `news`, from HaluEval summarization's training articles) and HotpotQA (`hotpot`)."""
    items: list[Item] = []

    def emit(source, group, question, claims, contexts, labels, as_answer=False):
        items.append(Item(source, group, question, list(contexts), list(claims), list(labels), as_answer))

    seen: set[str] = set()
    for row in read_rows(DATA / "halueval_summarization_dev.jsonl"):
        article = row["retrieved_contexts"][0]
        if in_holdout(row) or article in seen or len(seen) >= 700:
            continue
        seen.add(article)
        k = len(seen)
        sentences = [s for s in split_claims(article) if 8 <= len(s.split()) <= 45]
        if len(sentences) < 4:
            continue
        picked = [sentences[(k * 7 + i * 5) % len(sentences)] for i in range(3)]
        names = sorted({m.group(0) for m in train_support._NAME.finditer(article) if not m.group(0)[0].isdigit()})
        supported: list[str] = []
        unsupported: list[str | None] = []
        for i, sentence in enumerate(picked):
            head = train_support._PAREN.sub("", sentence).split(", ")[0].rstrip(".") + "."
            clauses = sentence.split(", ")
            middle_out = ", ".join(clauses[:1] + clauses[2:]) if len(clauses) >= 3 else None
            supported += [c for c in (sentence if i == 0 else None, head, middle_out) if c and len(c.split()) >= 5]
            other = sentences[(k + 3 * i + 1) % len(sentences)]
            own = [m.group(0) for m in train_support._NAME.finditer(sentence) if not m.group(0)[0].isdigit()][1:]
            foreign = [n for n in names if n not in sentence]
            swapped = sentence.replace(own[0], foreign[(k + i) % len(foreign)], 1) if own and foreign else None
            kinds = [train_support._splice(sentence, other), swapped, train_support._altered_number(sentence),
                     negated(sentence), roles_exchanged(sentence), year_added(sentence, article, k + i)]
            unsupported += [kinds[(k + i) % 6], kinds[(k + i + 2) % 6], kinds[(k + i + 4) % 6]]
        made = [c for c in unsupported if c]
        claims = [c if j % 2 else c[:1] + c[1:].lower() for j, c in enumerate(supported + made)]
        emit("news", f"news-{k}", row["user_input"], claims, [article],
             [1] * len(supported) + [0] * len(made), as_answer=False)
    for n, row in enumerate(read_rows(DATA / "hotpotqa_dev.jsonl")):
        if in_holdout(row):
            continue
        contexts = row["retrieved_contexts"]
        distractors = [c for c, gold in zip(contexts, row["context_is_gold"], strict=True) if not gold]
        sentences = row["supporting_sentences"]
        wrong = [x for s in sentences for x in (negated(s), roles_exchanged(s)) if x]
        q = row["user_input"]
        emit("hotpot", f"hp-{n}", q, sentences, contexts, [1] * len(sentences), as_answer=False)
        emit("hotpot", f"hpd-{n}", q, sentences, distractors, [0] * len(sentences), as_answer=False)
        if wrong:
            emit("hotpot", f"hpn-{n}", q, wrong, contexts, [0] * len(wrong), as_answer=False)

    return items
