"""How well the gate and the context metrics agree with labelled rows (`ragmeter accuracy`).

- Rows with `label_hallucinated` (HaluEval style): balanced accuracy of the gate's verdict, the AUC
  of its hallucination score, the same for the word-overlap rule, and per `family` when rows have one.
- Rows with `context_is_gold` (HotpotQA style): how context precision and recall separate gold
  contexts from distractors (per-context usefulness AUC and accuracy, mean precision and recall).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ragmeter.metrics import Sample, evaluate
from ragmeter.metrics.judges.embedded import text
from ragmeter.metrics.metric_score import NO_CLAIMS


def balanced_accuracy(truth: list[bool], predicted: list[bool]) -> float:
    t = np.asarray(truth, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    tpr = (p & t).sum() / max(1, t.sum())
    tnr = (~p & ~t).sum() / max(1, (~t).sum())
    return float((tpr + tnr) / 2)


def auc(scores: list[float], labels: list[bool]) -> float | None:
    """Probability that a random positive outscores a random negative (ties count half)."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (len(pos) * len(neg)))


def missing(row: dict) -> tuple[int, float]:
    """Content words of the answer absent from the contexts: count and share (unstemmed)."""
    pool = set(text.words(" ".join(row["retrieved_contexts"])))
    content = [w for w in text.words(row["response"]) if w not in text.STOPWORDS]
    absent = sum(w not in pool for w in content)
    return absent, absent / max(1, len(content))


def hallucination_score(result) -> float | None:
    """1 - faithfulness; 0.0 for an answer with no claims; None when faithfulness could not be computed."""
    faith = result.details.faithfulness
    if faith.score is not None:
        return 1.0 - faith.score
    return 0.0 if faith.reason == NO_CLAIMS else None


def ranking_score(result) -> float | None:
    """The hallucination score with its ties broken by the judge's confidence, for ROC AUC.

    1 - faithfulness takes few values (a one-claim answer is 0 or 1), so its AUC mostly measures one
    cut-off. Among answers with the same score, the one whose claims the judge found less likely
    supported ranks as more hallucinated; the order between different scores never changes.
    """
    score = hallucination_score(result)
    if score is None:
        return None
    probabilities = [c.probability for c in result.details.faithfulness.claims if c.probability is not None]
    return score + TIE_BREAK * (1.0 - float(np.mean(probabilities))) if probabilities else score


TIE_BREAK = 1e-3  # below the smallest gap between two shares of claims (1/1000 claims)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def scored_auc(scores: list[float | None], labels: list[bool]) -> float | None:
    """AUC over the rows whose score is not None."""
    kept = [(s, y) for s, y in zip(scores, labels, strict=True) if s is not None]
    return _rounded(auc([s for s, _ in kept], [y for _, y in kept])) if kept else None


def verdict_accuracy(pairs: list) -> dict:
    """Of the rows with an `expected_verdict` whose answer has one claim: how many got that verdict."""
    single = [(r["expected_verdict"], res.details.faithfulness.claims[0].verdict) for r, res in pairs
              if r.get("expected_verdict") is not None and len(res.details.faithfulness.claims) == 1]
    share = float(np.mean([want == got for want, got in single])) if single else None
    return {"single_claim_rows": len(single), "verdict_accuracy": _rounded(share)}


def family_report(rows: list[dict], results: list) -> dict:
    """Per family: rows, gate accuracy and, with `expected_verdict`, single-claim verdict accuracy."""
    families: dict = {}
    for name in dict.fromkeys(r["family"] for r in rows):
        pairs = [(r, res) for r, res in zip(rows, results, strict=True) if r["family"] == name]
        right = [(not res.gate.passed) == bool(r["label_hallucinated"]) for r, res in pairs]
        families[name] = {"rows": len(pairs), "accuracy": round(float(np.mean(right)), 4)}
        if any("expected_verdict" in r for r, _ in pairs):
            families[name].update(verdict_accuracy(pairs))
    return families


async def hallucination_report(rows: list[dict], judge, threshold: float | None = None) -> dict:
    """The gate against `label_hallucinated` (balanced accuracy, AUC), beside the plain lexical rule."""
    samples = [Sample.model_validate(r) for r in rows]
    results = await evaluate(samples, judge, ["faithfulness"], threshold=threshold)
    truth = [bool(r["label_hallucinated"]) for r in rows]
    flagged = [not res.gate.passed for res in results]
    scores = [hallucination_score(res) for res in results]
    ranked = [ranking_score(res) for res in results]

    counts = np.array([missing(r) for r in rows])
    # The baseline to beat: "fail when the answer has content words the contexts lack", with
    # its best cut-off (count or share) chosen on these very rows, which flatters it.
    baseline = max(balanced_accuracy(truth, counts[:, k] > cut)
                   for k in (0, 1) for cut in np.unique(counts[:, k]))
    t, f = np.asarray(truth), np.asarray(flagged)
    report: dict[str, Any] = {
        "rows": len(rows),
        "hallucinated": int(t.sum()),
        "threshold": results[0].gate.threshold if results else threshold,
        "balanced_accuracy": round(balanced_accuracy(truth, flagged), 4),
        "caught": round(float((t & f).sum() / max(1, t.sum())), 4),
        "false_alarms": round(float((~t & f).sum() / max(1, (~t).sum())), 4),
        "hallucination_auc": scored_auc(ranked, truth),
        "gate_score_auc": scored_auc(scores, truth),
        "lexical_rule_balanced_accuracy": round(balanced_accuracy(truth, list(counts[:, 0] > 0)), 4),
        "lexical_rule_best_cutoff_balanced_accuracy": round(baseline, 4),
        "lexical_rule_auc": scored_auc(list(counts[:, 1]), truth),
        "errors": sum(1 for res, s in zip(results, scores, strict=True) if res.errors or s is None),
    }
    if rows and all("family" in r for r in rows):
        report["families"] = family_report(rows, results)
    return report


async def context_report(rows: list[dict], judge) -> dict:
    """How context precision and recall separate gold contexts from distractors (HotpotQA style)."""
    def variant(row: dict, keep) -> dict:
        pairs = [(c, g) for c, g in zip(row["retrieved_contexts"], row["context_is_gold"], strict=True) if keep(g)]
        return {**row, "retrieved_contexts": [c for c, _ in pairs], "context_is_gold": [g for _, g in pairs]}

    def gold_first(row: dict, first: bool) -> dict:
        order = sorted(range(len(row["context_is_gold"])), key=lambda i: row["context_is_gold"][i] != first)
        return {**row, "retrieved_contexts": [row["retrieved_contexts"][i] for i in order],
                "context_is_gold": [row["context_is_gold"][i] for i in order]}

    variants = {
        "given_order": rows,
        "gold_first": [gold_first(r, True) for r in rows],
        "gold_last": [gold_first(r, False) for r in rows],
        "gold_only": [variant(r, bool) for r in rows],
        "distractors_only": [variant(r, lambda g: not g) for r in rows],
    }
    report: dict = {"rows": len(rows)}
    for name, variant_rows in variants.items():
        samples = [Sample.model_validate({**r, "response": r.get("response") or r.get("short_answer") or "-"})
                   for r in variant_rows]
        results = await evaluate(samples, judge, ["context_precision", "context_recall"])
        precision = [r.scores.context_precision for r in results if r.scores.context_precision is not None]
        recall = [r.scores.context_recall for r in results if r.scores.context_recall is not None]
        report[name] = {"context_precision": round(float(np.mean(precision)), 4) if precision else None,
                        "context_recall": round(float(np.mean(recall)), 4) if recall else None}
        if name == "given_order":
            probs, labels, useful = [], [], []
            for row, res in zip(variant_rows, results, strict=True):
                for verdict in res.details.context_precision.contexts:
                    probs.append(verdict.probability if verdict.probability is not None else float(verdict.useful))
                    labels.append(bool(row["context_is_gold"][verdict.index]))
                    useful.append(verdict.useful)
            area = auc(probs, labels)
            report["usefulness_auc"] = round(area, 4) if area is not None else None
            report["usefulness_balanced_accuracy"] = round(balanced_accuracy(labels, useful), 4) if useful else None
    return report
