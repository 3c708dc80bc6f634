"""`evaluate()` for notebooks that use ragas: the same dataset in, a result whose `to_pandas()` has ragas' columns.

    # from ragas import evaluate
    from ragmeter.service.notebook import evaluate
    result = evaluate(dataset)            # a ragas EvaluationDataset, its to_list() dicts, or a DataFrame
    result.to_pandas()                    # user_input, retrieved_contexts, response, reference, faithfulness, ...

Any of ragmeter's judges scores behind it (`judge="openai"` (or "ragmeter"), "embedded", "cascade", "ragas",
"auto", or a judge object); the full results, with evidence and null reasons, are in `result.results`.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterable, Sequence

import pandas as pd
from ragmeter.metrics import (
    DEFAULT_METRICS,
    METRIC_NAMES,
    METRICS,
    GateConfig,
    Sample,
    SampleResult,
)
from ragmeter.metrics import evaluate as score_all
from ragmeter.metrics.judges import Scorer

from ragmeter.service.judge_setup import JUDGE_CHOICES, NO_JUDGE, build_judge, judge_choices, judge_problem
from ragmeter.service.settings import Settings

RAGAS_FIELDS = ("user_input", "retrieved_contexts", "response", "reference")
# ragas' other names for the metrics ragmeter computes, as each metric declares them.
RAGAS_ALIASES = {alias: m.name for m in METRICS if m.ragas for alias in m.ragas.aliases}


class RagmeterResult:
    """ragas' EvaluationResult surface: `to_pandas()`, `scores`, `result["faithfulness"]`, means in the repr."""

    def __init__(self, rows: list[dict], results: list[SampleResult], metrics: list[str]):
        self.rows, self.results, self.metrics = rows, results, metrics

    @property
    def scores(self) -> list[dict[str, float | None]]:
        """One dict of metric scores per row; None where ragmeter gives null (the reason is in `results`)."""
        return [{m: getattr(r.scores, m) for m in self.metrics} for r in self.results]

    def __getitem__(self, metric: str) -> list[float | None]:
        return [row[metric] for row in self.scores]

    def to_pandas(self) -> pd.DataFrame:
        """The rows' ragas fields, then one column per metric (a null score is NaN, as in ragas)."""
        frame = pd.DataFrame([{f: row.get(f) for f in RAGAS_FIELDS} for row in self.rows])
        scores = pd.DataFrame(self.scores, columns=self.metrics, dtype="float64")
        return pd.concat([frame, scores], axis=1)

    def __repr__(self) -> str:
        means = self.to_pandas()[self.metrics].mean(skipna=True)
        return repr({m: round(float(v), 4) for m, v in means.items() if pd.notna(v)})


def evaluate(dataset, metrics: Iterable | None = None, judge: str | Scorer = "auto",
             gate: GateConfig | None = None) -> RagmeterResult:
    """Score a ragas dataset with a ragmeter judge; `metrics` takes names or ragas metric objects."""
    rows = _rows(dataset)
    names = _metric_names(metrics)
    samples = [Sample.model_validate(row) for row in rows]
    owned = isinstance(judge, str)  # a judge built here is closed here
    scorer = _judge(judge) if isinstance(judge, str) else judge

    async def run() -> list[SampleResult]:
        try:
            return await score_all(samples, scorer, names, gate)
        finally:
            if owned:
                await scorer.aclose()

    return RagmeterResult(rows, _run(run()), names)


def _rows(dataset) -> list[dict]:
    if isinstance(dataset, pd.DataFrame):
        return dataset.to_dict(orient="records")
    if hasattr(dataset, "to_list"):  # ragas' EvaluationDataset
        return list(dataset.to_list())
    if isinstance(dataset, Sequence) and all(isinstance(row, dict) for row in dataset):
        return [dict(row) for row in dataset]
    raise TypeError("evaluate() takes a ragas EvaluationDataset, a list of dicts (ragas field names) or a DataFrame, "
                    f"not {type(dataset).__name__}")


def _metric_names(metrics: Iterable | None) -> list[str]:
    if metrics is None:
        return list(DEFAULT_METRICS)
    names = []
    for metric in metrics:
        name = metric if isinstance(metric, str) else getattr(metric, "name", None)
        name = RAGAS_ALIASES.get(name, name) if isinstance(name, str) else name
        if name not in METRIC_NAMES:
            raise ValueError(f"ragmeter has no metric {name!r}; it computes {', '.join(METRIC_NAMES)}")
        names.append(name)
    return list(dict.fromkeys(names))


def _judge(kind: str) -> Scorer:
    if kind not in JUDGE_CHOICES:
        raise ValueError(f"ragmeter has no judge {kind!r}; judge= takes {judge_choices()}, or a judge object")
    settings = Settings(judge=kind)
    if problem := judge_problem(settings):
        raise RuntimeError(problem)
    judge = build_judge(settings)
    if judge is None:
        raise RuntimeError(NO_JUDGE)
    return judge


def _run(coroutine):
    """Run to completion, also inside Jupyter, whose own event loop is already running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
