"""How well the gate and the context metrics agree with labelled rows (`ragmeter accuracy`).

- Rows with `label_hallucinated` (HaluEval style): balanced accuracy of the gate's verdict.
- Rows with `context_is_gold` (HotpotQA style): how context precision and recall separate gold
  contexts from distractors (per-context usefulness AUC and accuracy, mean precision and recall).
"""
from __future__ import annotations

import numpy as np

from ragmeter.metrics import Sample, evaluate
from ragmeter.metrics.judges.embedded import text

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


async def hallucination_report(rows: list[dict], judge, threshold: float | None = None) -> dict:
    """Balanced accuracy of the gate against `label_hallucinated`, beside the plain lexical rule."""
    samples = [Sample.model_validate(r) for r in rows]
    results = await evaluate(samples, judge, ["faithfulness"], threshold=threshold)
    truth = [bool(r["label_hallucinated"]) for r in rows]
    flagged = [not res.gate.passed for res in results]

    def missing(row: dict) -> tuple[int, float]:
        """Content words of the answer absent from the contexts: count and share (unstemmed)."""
        pool = set(text.words(" ".join(row["retrieved_contexts"])))
        content = [w for w in text.words(row["response"]) if w not in text.STOPWORDS]
        absent = sum(w not in pool for w in content)
        return absent, absent / max(1, len(content))

    counts = np.array([missing(r) for r in rows])
    # The baseline to beat: "fail when the answer has content words the contexts lack", with
    # its best cut-off (count or share) chosen on these very rows, which flatters it.
    baseline = max(balanced_accuracy(truth, counts[:, k] > cut)
                   for k in (0, 1) for cut in np.unique(counts[:, k]))
    t, f = np.asarray(truth), np.asarray(flagged)
    return {
        "rows": len(rows),
        "hallucinated": int(t.sum()),
        "threshold": results[0].gate.threshold if results else threshold,
        "balanced_accuracy": round(balanced_accuracy(truth, flagged), 4),
        "caught": round(float((t & f).sum() / max(1, t.sum())), 4),
        "false_alarms": round(float((~t & f).sum() / max(1, (~t).sum())), 4),
        "lexical_rule_balanced_accuracy": round(balanced_accuracy(truth, list(counts[:, 0] > 0)), 4),
        "lexical_rule_best_cutoff_balanced_accuracy": round(baseline, 4),
        "errors": sum(1 for res in results if res.errors),
    }


async def context_report(rows: list[dict], judge) -> dict:
    """How context precision and recall separate gold contexts from distractors (HotpotQA style)."""
    def variant(row: dict, keep) -> dict:
        pairs = [(c, g) for c, g in zip(row["retrieved_contexts"], row["context_is_gold"]) if keep(g)]
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
            for row, res in zip(variant_rows, results):
                for verdict in res.details.context_precision.contexts:
                    probs.append(verdict.probability if verdict.probability is not None else float(verdict.useful))
                    labels.append(bool(row["context_is_gold"][verdict.index]))
                    useful.append(verdict.useful)
            area = auc(probs, labels)
            report["usefulness_auc"] = round(area, 4) if area is not None else None
            report["usefulness_balanced_accuracy"] = round(balanced_accuracy(labels, useful), 4) if useful else None
    return report
