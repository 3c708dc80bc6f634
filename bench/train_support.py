"""Learns the embedded judge's support weights from the shared dev data; writes assets/support_weights.json.

    python bench/train_support.py            # features are cached in /tmp between runs

Claim-level training pairs:
- HaluEval QA and summarization, training part only (`service.accuracy.in_holdout` keeps ~30% of
  items out): every claim of a right answer is supported; of a hallucinated answer, the claim
  with the least lexical support is unsupported and its other claims are left out (unlabelled);
- HotpotQA training rows (`hotpot_pairs`): supporting sentences, verbatim and compressed, as
  supported claims; the same against distractors only, or with a name or number swapped, as
  unsupported ones. Without these, HaluEval's extractive right answers teach the scorer that any
  rewording is a hallucination.
Only each claim's best-matching sentence (the part that needs the encoder) is cached in /tmp;
the lexical features are recomputed on every run, so they can change without re-encoding.
A small ensemble of one-hidden-layer networks is fitted on those pairs (each source and class
weighted equally); then the claim cut-off and the gate threshold are chosen together on the
training samples, and held-out figures are printed beside the plain lexical rule.
"""
from __future__ import annotations

import argparse
import re
import json
import pickle
import time
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.neural_network import MLPClassifier

from ragmeter.metrics.judges.embedded.contexts import ContextStore
from ragmeter.metrics.judges.embedded.encoder import Encoder
from ragmeter.metrics.judges.embedded.judge import match_text, split_claims
from ragmeter.metrics.judges.embedded.support import (FEATURES, WEIGHTS_FILE, Claim, SupportModel, best_match,
                                                        claim_features)
from ragmeter.service.analysis.accuracy.reports import balanced_accuracy
from ragmeter.service.analysis.accuracy.split import in_holdout, read_rows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE = Path("/tmp/ragmeter_support_matches.pkl")


def match(store, question: str, claims: list[str], contexts: list[str], as_answer=True) -> dict:
    """The embedding-dependent part of each claim's features (its best sentence), for the cache."""
    index = store.index(contexts)
    parsed = [Claim.of(c, match_text(c, question) if as_answer else c) for c in claims]
    store.embed(parsed, index)
    return {"question": question, "claims": claims, "contexts": contexts, "as_answer": as_answer,
            "matches": [best_match(c, index) for c in parsed]}


def features(store, item: dict) -> list[dict]:
    """Every feature of each claim of a cached item; the lexical ones are recomputed on each run."""
    index = store.index(item["contexts"])
    q = item["question"]
    return [claim_features(Claim.of(c, match_text(c, q) if item["as_answer"] else c), index, m)[0]
            for c, m in zip(item["claims"], item["matches"], strict=True)]


def build(encoder) -> dict:
    store = ContextStore(encoder, max_entries=100_000)
    out = {}
    for name in ("halueval_qa_dev.jsonl", "halueval_summarization_dev.jsonl"):
        samples = []
        started = time.perf_counter()
        for row in read_rows(DATA / name):
            item = match(store, row["user_input"], split_claims(row["response"]), row["retrieved_contexts"])
            samples.append({"hallucinated": row["label_hallucinated"], "holdout": in_holdout(row), **item})
        print(f"{name}: {len(samples)} samples matched in {time.perf_counter() - started:.0f}s")
        out[name] = samples
    return out


_PAREN = re.compile(r"\s*\([^)]*\)")
_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*\b|\b\d[\d,.]*\b")


def hotpot_pairs(encoder) -> list[tuple[dict, int]]:
    """Claim pairs from the HotpotQA training rows, so the scorer also sees faithful paraphrase-like claims.

    supported: each supporting sentence, and the same sentence compressed (parentheses dropped,
    cut at its first comma), against all ten paragraphs; unsupported: the sentence against the
    distractors only, and the sentence with one name or number swapped for one from a distractor.
    """
    store = ContextStore(encoder, max_entries=10_000)
    pairs = []
    for row in read_rows(DATA / "hotpotqa_dev.jsonl"):
        if in_holdout(row):
            continue
        contexts = row["retrieved_contexts"]
        distractors = [c for c, g in zip(contexts, row["context_is_gold"], strict=True) if not g]
        gold_text = " ".join(c for c, g in zip(contexts, row["context_is_gold"], strict=True) if g)
        sentences = row["supporting_sentences"]
        compressed = [c for c in (_PAREN.sub("", s).split(", ")[0].rstrip(".") + "." for s in sentences)
                      if len(c.split()) >= 4 and c not in sentences]
        foreign = [m.group(0) for d in distractors for m in _NAME.finditer(d)]
        swapped = []
        for i, sentence in enumerate(sentences):
            names = [m.group(0) for m in _NAME.finditer(sentence)][1:]  # the first is the subject
            if names and foreign:
                old = names[i % len(names)]
                new = foreign[(7 * i + len(sentence)) % len(foreign)]
                if new not in gold_text and new not in sentence:
                    swapped.append(sentence.replace(old, new, 1))
        q = row["user_input"]
        for claims, scope, label in ((sentences, contexts, 1), (compressed, contexts, 1),
                                     (sentences, distractors, 0), (swapped, contexts, 0)):
            if claims:
                pairs.append((match(store, q, claims, scope, False), label))
    return pairs


def _splice(a: str, b: str) -> str | None:
    """The head of sentence `a` glued to the tail of sentence `b`: the error an extractive summariser makes."""
    wa, wb = a.rstrip(".").split(), b.rstrip(".").split()
    if len(wa) < 8 or len(wb) < 8:
        return None
    return " ".join(wa[: len(wa) // 2] + wb[len(wb) // 2:]) + "."


def _altered_number(sentence: str) -> str | None:
    match = re.search(r"\b\d+\b", sentence)
    if match is None:
        return None
    value = int(match.group(0))
    return sentence[:match.start()] + str(value + 1 if value < 1900 else value - 3) + sentence[match.end():]


def news_pairs(encoder, limit: int = 900) -> list[tuple[dict, int]]:
    """Claim pairs from the HaluEval summarization articles (training rows only), in the way summarisers err.

    supported: an article sentence compressed (parentheses dropped, cut at its first comma, or its
    middle clause left out) against the article; unsupported: the head of one sentence glued to the
    tail of another, a name swapped for another name of the same article, a number changed. Every
    unsupported claim is made of the article's own words, so only evidence read within one passage
    (not words found anywhere) tells them apart. Half of each kind is lower-cased, as some answers are.
    """
    store = ContextStore(encoder, max_entries=10_000)
    pairs: list[tuple[dict, int]] = []
    seen: set[str] = set()
    for row in read_rows(DATA / "halueval_summarization_dev.jsonl"):
        article = row["retrieved_contexts"][0]
        if in_holdout(row) or article in seen or len(seen) >= limit:
            continue
        seen.add(article)
        sentences = [s for s in split_claims(article) if 8 <= len(s.split()) <= 45]
        if len(sentences) < 4:
            continue
        k = len(seen)
        picked = [sentences[(k * 7 + i * 5) % len(sentences)] for i in range(3)]
        names = sorted({m.group(0) for m in _NAME.finditer(article) if not m.group(0)[0].isdigit()})
        supported, unsupported = [], []
        for i, sentence in enumerate(picked):
            head = _PAREN.sub("", sentence).split(", ")[0].rstrip(".") + "."
            clauses = sentence.split(", ")
            middle_out = ", ".join(clauses[:1] + clauses[2:]) if len(clauses) >= 3 else None
            supported += [c for c in (head, middle_out) if c and len(c.split()) >= 5 and c != sentence]
            other = sentences[(k + 3 * i + 1) % len(sentences)]
            own = [m.group(0) for m in _NAME.finditer(sentence) if not m.group(0)[0].isdigit()][1:]
            foreign = [n for n in names if n not in sentence]
            swapped = sentence.replace(own[0], foreign[(k + i) % len(foreign)], 1) if own and foreign else None
            unsupported += [c for c in (_splice(sentence, other), swapped, _altered_number(sentence)) if c]
        q = row["user_input"]
        for claims, label in ((supported, 1), (unsupported, 0)):
            claims = [c if j % 2 else c[:1] + c[1:].lower() for j, c in enumerate(claims)]
            if claims:
                pairs.append((match(store, q, claims, [article], False), label))
    return pairs


def claim_examples(samples: list[dict]) -> list[tuple[dict, int]]:
    examples: list[tuple[dict, int]] = []
    for s in samples:
        if s["holdout"] or not s["features"]:
            continue
        if not s["hallucinated"]:
            examples.extend((f, 1) for f in s["features"])
        else:
            weakest = min(s["features"], key=lambda f: (f["cov_all"], f["sim_max"]))
            examples.append((weakest, 0))
    return examples


def matrix(features: list[dict]) -> np.ndarray:
    return np.array([[f[name] for name in FEATURES] for f in features], dtype=float)


def lexical_baseline(samples, holdout: bool) -> float:
    """The plain rule to beat: fail when any content word of the answer is missing from the contexts."""
    return balanced_accuracy([s["hallucinated"] for s in samples if s["holdout"] == holdout],
                             [any(f["missing"] > 0 for f in s["features"]) for s in samples if s["holdout"] == holdout])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild", action="store_true", help="recompute the cached features")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
    parser.add_argument("--ensemble", type=int, default=3, help="networks averaged")
    args = parser.parse_args()
    if CACHE.exists() and not args.rebuild:
        data = pickle.loads(CACHE.read_bytes())
    else:
        data = build(Encoder.load())
        CACHE.write_bytes(pickle.dumps(data))

    qa, summ = data["halueval_qa_dev.jsonl"], data["halueval_summarization_dev.jsonl"]
    store = ContextStore(encoder=None, max_entries=100_000)
    started = time.perf_counter()
    for s in qa + summ:
        s["features"] = features(store, s)
    encoder = Encoder.load()
    hotpot = [(f, label) for item, label in hotpot_pairs(encoder) for f in features(store, item)]
    news = [(f, label) for item, label in news_pairs(encoder) for f in features(store, item)]
    print(f"lexical features in {time.perf_counter() - started:.0f}s")
    sets = {"qa": claim_examples(qa), "summarization": claim_examples(summ), "hotpot": hotpot, "news": news}
    rows: list[dict] = []
    labelled: list[int] = []
    weights: list[float] = []
    for name, examples in sets.items():
        labels = np.array([label for _, label in examples])
        # Each source and each class weighs the same in total, whatever its size.
        for f, label in examples:
            rows.append(f)
            labelled.append(label)
            weights.append(1.0 / (len(sets) * 2 * max(1, (labels == label).sum())))
        print(f"{name}: {len(examples)} claim examples, {int(labels.sum())} supported")
    x, y, w = matrix(rows), np.array(labelled), np.array(weights) * len(weights)
    nets = []
    for seed in range(args.ensemble):
        net = MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-3, max_iter=3000, random_state=seed)
        net.fit(x, y, sample_weight=w)
        nets.append(net)
    model = SupportModel(networks=tuple((n.coefs_[0], n.intercepts_[0], n.coefs_[1].reshape(-1),
                                         float(n.intercepts_[1][0])) for n in nets))
    for s in qa + summ:
        s["p"] = [model.probability(f) for f in s["features"]]

    def hallucination(samples: list[dict], cutoff: float) -> np.ndarray:
        return np.array([1 - np.mean(np.array(s["p"]) >= cutoff) if s["p"] else 0.0 for s in samples])

    def accuracy(samples, h, threshold, holdout):
        keep = [s["holdout"] == holdout for s in samples]
        return balanced_accuracy([s["hallucinated"] for s in samples if s["holdout"] == holdout], h[keep] > threshold)

    # One cut-off and one threshold for both sets, chosen on training rows for the widest margin over
    # the targets (QA 0.95, summarization 0.80).
    best: tuple[float, float, float] | None = None
    for cutoff in np.arange(0.30, 0.90, 0.025):
        hq, hs = hallucination(qa, cutoff), hallucination(summ, cutoff)
        # Not capped below 0.5 (one unsupported claim of two failing, as with the LLM judge): on the
        # training rows no cut-off reaches QA 0.95 and summarization 0.80 under 0.5 (best 0.92 / 0.78),
        # because 40% of HaluEval's right summaries hold a sentence the article does not support
        # (bylines, facts from beyond the article). docs/embedded-judge.md, "Calibration".
        for threshold in np.arange(0.0, 0.90, 0.025):
            a, b = accuracy(qa, hq, threshold, False), accuracy(summ, hs, threshold, False)
            candidate = (min(a - 0.95, b - 0.80), float(cutoff), float(threshold))
            if best is None or candidate > best:
                best = candidate
    if best is None:
        raise RuntimeError("no cut-off and threshold were tried")
    _, cutoff, threshold = best
    report = {}
    for name, samples in (("halueval_qa", qa), ("halueval_summarization", summ)):
        h = hallucination(samples, cutoff)
        for part, holdout in (("train", False), ("holdout", True)):
            report[f"{name}_{part}"] = round(accuracy(samples, h, threshold, holdout), 4)
            report[f"{name}_{part}_lexical_baseline"] = round(lexical_baseline(samples, holdout), 4)
    print(json.dumps({"claim_cutoff": round(cutoff, 3), "threshold": round(threshold, 3), **report}, indent=1))
    args.out.write_text(json.dumps({
        "features": list(FEATURES),
        "networks": [{"w1": np.round(w1, 6).tolist(), "b1": np.round(b1, 6).tolist(),
                      "w2": np.round(w2, 6).tolist(), "b2": round(b2, 6)} for w1, b1, w2, b2 in model.networks],
        "claim_cutoff": round(cutoff, 3), "threshold": round(threshold, 3),
        "meta": {"version": "v2", "trained": str(date.today()), "script": "bench/train_support.py",
                 "balanced_accuracy": report, "training_examples": {k: len(v) for k, v in sets.items()}},
    }) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
