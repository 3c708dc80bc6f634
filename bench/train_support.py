"""Learns the embedded judge's support weights from the shared dev data; writes assets/support_weights.json.

    python bench/train_support.py            # features are cached in /tmp between runs

Claim-level training pairs:
- HaluEval QA and summarization, training part only (`service.accuracy.in_holdout` keeps ~30% of
  items out): every claim of a right answer is supported; of a hallucinated answer, the claim
  with the least lexical support is unsupported and its other claims are left out (unlabelled);
- HotpotQA: each supporting sentence against all ten paragraphs (supported) and against the
  distractor paragraphs only (unsupported).
Only each claim's best-matching sentence (the part that needs the encoder) is cached in /tmp;
the lexical features are recomputed on every run, so they can change without re-encoding.
Then the claim cut-off and the gate threshold are chosen together on the training samples to
maximise the mean balanced accuracy over both HaluEval sets, and held-out figures are printed.
"""
from __future__ import annotations

import argparse
import json
import pickle
import time
from datetime import date
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

from metrics.judges.contexts import ContextStore
from metrics.judges.encoder import Encoder
from metrics.judges.local import match_text, split_claims
from metrics.judges.support import FEATURES, WEIGHTS_FILE, Claim, best_match, claim_features
from service.accuracy import balanced_accuracy, in_holdout, read_rows

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE = Path("/tmp/ragmeter_support_matches.pkl")


def match(store, question: str, claims: list[str], contexts: list[str], as_answer=True) -> dict:
    """The embedding-dependent part of each claim's features (its best sentence), for the cache."""
    index = store.index(contexts)
    parsed = [Claim.of(c, match_text(c, question) if as_answer else c) for c in claims]
    store.embed([(c, [index]) for c in parsed])
    return {"question": question, "claims": claims, "contexts": contexts, "as_answer": as_answer,
            "matches": [best_match(c, index) for c in parsed]}


def features(store, item: dict) -> list[dict]:
    """Every feature of each claim of a cached item; the lexical ones are recomputed on each run."""
    index = store.index(item["contexts"])
    q = item["question"]
    return [claim_features(Claim.of(c, match_text(c, q) if item["as_answer"] else c), index, m)[0]
            for c, m in zip(item["claims"], item["matches"])]


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
    pairs = []
    for row in read_rows(DATA / "hotpotqa_dev.jsonl"):
        if in_holdout(row):
            continue
        distractors = [c for c, g in zip(row["retrieved_contexts"], row["context_is_gold"]) if not g]
        sentences = row["supporting_sentences"]
        pairs.append((match(store, row["user_input"], sentences, row["retrieved_contexts"], False), 1))
        pairs.append((match(store, row["user_input"], sentences, distractors, False), 0))
    out["hotpot_pairs"] = pairs
    return out


def claim_examples(samples: list[dict]) -> list[tuple[dict, int]]:
    examples = []
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


def gate_accuracy(samples, probability, cutoff: float, threshold: float, holdout: bool) -> float:
    truth, predicted = [], []
    for s in samples:
        if s["holdout"] != holdout:
            continue
        if s["features"]:
            supported = sum(probability(f) >= cutoff for f in s["features"])
            hallucination = 1 - supported / len(s["features"])
        else:
            hallucination = 0.0
        truth.append(s["hallucinated"])
        predicted.append(hallucination > threshold)
    return balanced_accuracy(truth, predicted)


def lexical_baseline(samples, holdout: bool) -> float:
    """The plain rule to beat: fail when any content word of the answer is missing from the contexts."""
    return balanced_accuracy([s["hallucinated"] for s in samples if s["holdout"] == holdout],
                             [any(f["missing"] > 0 for f in s["features"]) for s in samples if s["holdout"] == holdout])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rebuild", action="store_true", help="recompute the cached features")
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE)
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
    hotpot = [(f, label) for item, label in data["hotpot_pairs"] for f in features(store, item)]
    print(f"lexical features in {time.perf_counter() - started:.0f}s")
    sets = {"qa": claim_examples(qa), "summarization": claim_examples(summ), "hotpot": hotpot}
    x, y, w = [], [], []
    for name, examples in sets.items():
        labels = np.array([label for _, label in examples])
        # Each source and each class weighs the same in total, whatever its size.
        for f, label in examples:
            x.append(f)
            y.append(label)
            w.append(1.0 / (len(sets) * 2 * max(1, (labels == label).sum())))
        print(f"{name}: {len(examples)} claim examples, {int(labels.sum())} supported")
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit(matrix(x), np.array(y), sample_weight=np.array(w) * len(w))
    coef, bias = model.coef_[0], float(model.intercept_[0])

    def probability(f: dict) -> float:
        return float(1 / (1 + np.exp(-(bias + sum(c * f[n] for c, n in zip(coef, FEATURES))))))

    for s in qa + summ:
        s["p"] = [probability(f) for f in s["features"]]
    cache = {}

    def fast_probability(f):
        return cache.setdefault(id(f), probability(f))

    best = None
    for cutoff in np.arange(0.30, 0.86, 0.05):
        for threshold in np.arange(0.0, 0.51, 0.05):
            score = np.mean([gate_accuracy(qa, fast_probability, cutoff, threshold, False),
                             gate_accuracy(summ, fast_probability, cutoff, threshold, False)])
            if best is None or score > best[0]:
                best = (score, float(cutoff), float(threshold))
    _, cutoff, threshold = best
    report = {}
    for name, samples in (("halueval_qa", qa), ("halueval_summarization", summ)):
        for part, holdout in (("train", False), ("holdout", True)):
            report[f"{name}_{part}"] = round(gate_accuracy(samples, fast_probability, cutoff, threshold, holdout), 4)
            report[f"{name}_{part}_lexical_baseline"] = round(lexical_baseline(samples, holdout), 4)
    print(json.dumps({"weights": dict(zip(FEATURES, np.round(coef, 4).tolist())), "bias": round(bias, 4),
                      "claim_cutoff": round(cutoff, 2), "threshold": round(threshold, 2), **report}, indent=1))
    args.out.write_text(json.dumps({
        "features": list(FEATURES), "weights": [round(float(c), 6) for c in coef], "bias": round(bias, 6),
        "claim_cutoff": round(cutoff, 2), "threshold": round(threshold, 2),
        "meta": {"version": "v1", "trained": str(date.today()), "script": "bench/train_support.py",
                 "balanced_accuracy": report,
                 "training_examples": {k: len(v) for k, v in sets.items()}},
    }, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
