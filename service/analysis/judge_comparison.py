"""Two judges on the same rows, side by side: how their scores relate and what each costs (`ragmeter compare-judges`).

Per metric: each judge's mean, the mean difference (second minus first) with a bootstrap interval,
Pearson and Spearman agreement over the rows both scored, and the rows where they disagree most,
with both judges' explanations. Per judge: chat calls, prompt tokens and wall time.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import pandas as pd
from ragmeter.metrics import Sample, SampleResult, evaluate
from ragmeter.metrics.judges import Scorer

from ragmeter.service.analysis.stats import bootstrap_ci


@dataclass
class JudgeRun:
    name: str
    judge: str  # judge.name as the results report it
    results: list[SampleResult]
    wall_s: float

    def cost(self) -> dict:
        usage = [r.usage for r in self.results]
        return {"judge": self.judge, "wall_s": round(self.wall_s, 2),
                "chat_calls": sum(u.chat_calls for u in usage), "cached_calls": sum(u.cached_calls for u in usage),
                "prompt_tokens": sum(u.prompt_tokens for u in usage),
                "completion_tokens": sum(u.completion_tokens for u in usage),
                "embedding_calls": sum(u.embedding_calls for u in usage),
                "samples_with_errors": sum(bool(r.errors) for r in self.results)}


async def run_judge(name: str, judge: Scorer, samples: list[Sample], metrics: list[str]) -> JudgeRun:
    """Score every sample with one judge, timing the whole run."""
    start = time.perf_counter()
    results = await evaluate(samples, judge, metrics)
    return JudgeRun(name, judge.info.name, results, time.perf_counter() - start)


def explain(result: SampleResult, metric: str) -> str:
    """One line saying why a judge gave this score: its negative verdicts, or its null reason."""
    detail = getattr(result.details, metric)
    if detail.score is None:
        return f"null: {detail.reason}"
    if metric == "faithfulness":
        bad = [f"{c.claim} ({c.reason})" if c.reason else c.claim for c in detail.claims if c.verdict != "supported"]
        return f"{len(bad)} of {len(detail.claims)} claims not supported" + (": " + "; ".join(bad) if bad else "")
    if metric == "context_recall":
        bad = [s.statement for s in detail.statements if not s.attributable]
        return f"{len(bad)} of {len(detail.statements)} statements not attributable" \
            + (": " + "; ".join(bad) if bad else "")
    if metric == "context_precision":
        return "useful contexts in order: " + "".join("1" if c.useful else "0" for c in detail.contexts)
    if metric == "answer_relevancy":
        if detail.questions:
            return ("noncommittal; " if detail.noncommittal else "") + "questions: " + \
                "; ".join(q.question for q in detail.questions)
        return ", ".join(f"{k} {v:.2f}" for k, v in (detail.signals or {}).items())
    return f"score {detail.score:.3f}"


def _correlation(a: pd.Series, b: pd.Series, method: Literal["pearson", "spearman"]) -> float | None:
    if len(a) < 3 or a.nunique() < 2 or b.nunique() < 2:
        return None  # undefined for constant scores
    return round(float(a.corr(b, method=method)), 4)


def compare_metric(first: JudgeRun, second: JudgeRun, samples: list[Sample], metric: str, top: int) -> dict:
    """How the two judges' scores of one metric relate, with the rows where they differ most."""
    a = pd.Series([getattr(r.scores, metric) for r in first.results], dtype="float64")
    b = pd.Series([getattr(r.scores, metric) for r in second.results], dtype="float64")
    both = a.notna() & b.notna()
    out: dict = {"metric": metric, "rows": len(samples), "scored_by_both": int(both.sum()),
                 "null": {first.name: int(a.isna().sum()), second.name: int(b.isna().sum())},
                 "mean": {first.name: _round(a.mean()), second.name: _round(b.mean())}}
    if not both.any():
        return {**out, "mean_difference": None, "interval_95": None, "pearson": None, "spearman": None,
                "disagreements": []}
    diff = (b - a)[both]
    low, high = bootstrap_ci(diff.to_numpy())
    out.update(mean_difference=_round(diff.mean()), interval_95=[_round(low), _round(high)],
               pearson=_correlation(a[both], b[both], "pearson"), spearman=_correlation(a[both], b[both], "spearman"))
    order = diff.abs().sort_values(ascending=False, kind="stable").index[:top]
    out["disagreements"] = [
        {"row": int(i), "id": samples[i].id, "question": samples[i].user_input[:200],
         first.name: {"score": _round(a[i]), "why": explain(first.results[i], metric)},
         second.name: {"score": _round(b[i]), "why": explain(second.results[i], metric)}}
        for i in order if diff[i] != 0]
    return out


def compare(first: JudgeRun, second: JudgeRun, samples: list[Sample], metrics: list[str], top: int = 5) -> dict:
    """The whole report: per metric agreement and per judge cost."""
    return {"rows": len(samples), "judges": [first.name, second.name],
            "cost": {run.name: run.cost() for run in (first, second)},
            "metrics": [compare_metric(first, second, samples, m, top) for m in metrics]}


def _round(value: float | None) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)
