"""The labelled sources the entailment model learns from and is scored on, read one way.

Each source gives evaluation rows (a sample with `label_hallucinated`, as `judge_accuracy.py` reads
them) and training items (claims of one sample with their labels; `None` where only the answer as a
whole is labelled, in which case a hallucinated answer's least supported claim counts as the bad one).

Human-labelled: SummEdits (5 domains), WiCE, BEGIN, the FaithDial audit (../shared/data/faithfulness,
attribution in metrics/judges/embedded/assets/NOTICE.md). Also HaluEval's training split, HotpotQA's
supporting sentences and synthetic news edits (`train_entailment.synthetic_items`). QAGS and the
robustness suite are evaluation-only: they never yield training items.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ragmeter.metrics.judges.embedded import text
from ragmeter.service.analysis.accuracy.split import in_holdout, read_rows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FAITH = DATA / "faithfulness"
SUITE = Path(__file__).resolve().parent / "data" / "robustness_suite.jsonl"
SUMMEDITS_DOMAINS = ("ectsum", "news", "podcast", "sales_call", "samsum")
SUMMARY_QUESTION = "Summarize the document."


@dataclass
class Item:
    """Claims of one sample to train on: labels 1 supported, 0 not, None (only the answer is labelled)."""

    source: str
    group: str
    question: str
    contexts: list[str]
    claims: list[str]
    labels: list[int | None]
    as_answer: bool = True  # claims are an answer to `question` (a short one is read with it)
    answer_hallucinated: bool | None = None


@dataclass
class Source:
    name: str
    rows: list[dict] = field(default_factory=list)  # evaluation rows
    items: list[Item] = field(default_factory=list)  # training items
    note: str = ""


NO_QUESTION = "What does the source say?"  # WiCE claims and openings of dialogues come without a question


def _row(question: str, contexts: list[str], response: str, hallucinated: bool, group: str) -> dict:
    return {"user_input": question.strip() or NO_QUESTION, "retrieved_contexts": contexts, "response": response,
            "label_hallucinated": hallucinated, "group": group}


def summedits(domain: str) -> Source:
    """Summaries of one domain. The edited sentence (diffed against the seed summary) carries the label."""
    src = Source(f"summedits_{domain}")
    for r in json.loads((FAITH / "summedits" / f"summedits_{domain}.json").read_text()):
        seed = r["id"].rsplit("_", 1)[0]
        consistent = int(r["label"]) == 1
        src.rows.append(_row(SUMMARY_QUESTION, [r["doc"]], r["summary"], not consistent, seed))
        sentences = text.sentences(r["summary"])
        original = {s.strip() for s in text.sentences(r["original_summary"])}
        # The seed summary is faithful; its sentences kept as written stay so in an edited summary.
        labels: list[int | None] = [1 if consistent or s.strip() in original else 0 for s in sentences]
        if not consistent and 0 not in labels:
            labels = [None] * len(sentences)  # the edit is not sentence-local: the answer label only
        src.items.append(Item(src.name, seed, SUMMARY_QUESTION, [r["doc"]], sentences, labels, False,
                              not consistent))
    return src


def _page(evidence: list[str]) -> str:
    # "(meta data) TITLE: ..." lines are WiCE's crawl metadata, not the page's text.
    return "\n".join(s for s in evidence if not s.startswith("(meta data)") or "TITLE:" in s)


def wice() -> Source:
    """Evaluation: the dev claims against their cited page. Training: the sub-claims whose unsupported
    tokens are marked (the claim is not supported; without those tokens it is)."""
    src = Source("wice")
    for n, line in enumerate((FAITH / "wice" / "claim_dev.jsonl").read_text().splitlines()):
        r = json.loads(line)
        src.rows.append(_row("", [_page(r["evidence"])], r["claim"], r["label"] != "supported", f"wice-{n}"))
    for n, line in enumerate((FAITH / "wice" / "non_supported_tokens_train.jsonl").read_text().splitlines()):
        r = json.loads(line)
        kept = [t for t, bad in zip(r["claim_tokens"], r["non_supported_spans"], strict=True) if not bad]
        claims: list[str] = [r["claim"]]
        labels: list[int | None] = [0]
        trimmed = _detokenize(kept)
        if len(text.content_stems(trimmed)) >= 3 and any(r["non_supported_spans"]):
            claims.append(trimmed)
            labels.append(1)
        src.items.append(Item("wice", f"wicet-{n}", "", [_page(r["evidence"])], claims, labels, False))
    return src


def _detokenize(tokens: list[str]) -> str:
    out = ""
    for t in tokens:
        out += t if not out or t in ".,;:!?)%'s" or t == "-" or out.endswith(("-", "(", "$")) else " " + t
    return out.strip()


_BEGIN_LABELS = {"Fully attributable": False, "Not fully attributable": True}


def begin() -> Source:
    src = Source("begin")
    for path in sorted((FAITH / "begin").glob("*/begin_dev_*.tsv")):
        with path.open(newline="") as f:
            for n, r in enumerate(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)):
                label = _BEGIN_LABELS.get((r.get("begin_label") or "").strip())
                if label is None or not r["response"].strip():
                    continue
                group = f"begin-{path.stem}-{n}"
                src.rows.append(_row(r["message"], [r["knowledge"]], r["response"], label, group))
                src.items.append(_dialogue_item("begin", group, r["message"], r["knowledge"], r["response"], label))
    return src


def _dialogue_item(source: str, group: str, message: str, knowledge: str, response: str,
                   hallucinated: bool) -> Item:
    claims = text.sentences(response) or [response]
    labels: list[int | None] = [1] * len(claims)
    if hallucinated:
        labels = [0] if len(claims) == 1 else [None] * len(claims)
    return Item(source, group, message, [knowledge], claims, labels, True, hallucinated)


def _faithdial_label(value: str) -> bool | None:
    value = (value or "").lower()
    if "halluc" in value:
        return True
    if "entail" in value:
        return False
    return None  # generic, uncooperative: nothing to attribute


def faithdial(skip: set[tuple[str, str]] | None = None) -> Source:
    """The audit's labelled responses, minus any (knowledge, response) that BEGIN also holds."""
    src = Source("faithdial")
    seen = set(skip or ())
    for path in sorted((FAITH / "faithdial_audit" / "data-audit").glob("*/*.csv")):
        with path.open(newline="") as f:
            for n, r in enumerate(csv.DictReader(f)):
                knowledge = r.get("knowledge") or r.get("evidence") or ""
                response = next((r[k] for k in ("ctrl", "doha", "gpt2", "response") if r.get(k)), "")
                label = _faithdial_label(r.get("begin_label") or r.get("BEGIN") or "")
                key = (knowledge.strip().lower(), response.strip().lower())
                if label is None or not response.strip() or not knowledge.strip() or key in seen:
                    continue
                seen.add(key)
                group = f"fd-{path.parent.name}-{path.stem}-{n}"
                src.rows.append(_row(r.get("history") or "", [knowledge], response, label, group))
                src.items.append(_dialogue_item("faithdial", group, r.get("history") or "", knowledge, response,
                                                label))
    return src


def halueval(kind: str) -> Source:
    """Evaluation: the holdout split. Training: the other rows (a right answer's claims are supported)."""
    name = {"qa": "halueval_qa", "summ": "halueval_summarization"}[kind]
    src = Source(name)
    for n, r in enumerate(read_rows(DATA / f"{name}_dev.jsonl")):
        if in_holdout(r):
            src.rows.append(r)
            continue
        claims = _answer_claims(r["response"])
        if claims:
            bad = bool(r["label_hallucinated"])
            src.items.append(Item(name, f"{kind}-{n}", r["user_input"], r["retrieved_contexts"], claims,
                                  [None if bad else 1] * len(claims), True, bad))
    return src


def _answer_claims(response: str) -> list[str]:
    from ragmeter.metrics.judges.embedded.judge import split_claims

    return split_claims(response)


def evaluation_only(name: str) -> Source:
    path = {"qags_sentences": DATA / "qags_cnndm_sentences.jsonl",
            "qags_summaries": DATA / "qags_cnndm_summaries.jsonl", "robustness": SUITE}[name]
    return Source(name, rows=read_rows(path))


def all_sources() -> Iterator[Source]:
    """Every source, human-labelled first."""
    for domain in SUMMEDITS_DOMAINS:
        yield summedits(domain)
    yield wice()
    b = begin()
    yield b
    yield faithdial({(r["retrieved_contexts"][0].strip().lower(), r["response"].strip().lower()) for r in b.rows})
    yield halueval("qa")
    yield halueval("summ")
    for name in ("qags_sentences", "qags_summaries", "robustness"):
        yield evaluation_only(name)
