"""The notebook entry point: a ragas-shaped dataset in, a result whose to_pandas() has ragas' columns."""
from __future__ import annotations

import asyncio

import pandas as pd
import pytest
from ragmeter.service.notebook import evaluate

from .helpers import SAMPLE, StubJudge

RAGAS_COLUMNS = ["user_input", "retrieved_contexts", "response", "reference", "faithfulness", "answer_relevancy",
                 "context_precision", "context_recall"]


def test_the_list_of_dicts_ragas_exports_scores_with_ragas_column_names():
    rows = [SAMPLE, {**SAMPLE, "response": "Nothing here is in the contexts."}]
    result = evaluate(rows, judge=StubJudge())
    frame = result.to_pandas()
    assert list(frame.columns) == RAGAS_COLUMNS
    assert frame["user_input"].tolist() == [SAMPLE["user_input"]] * 2
    assert result["faithfulness"] == [0.0, 0.0]  # the stub supports only a whole answer found in a context
    assert result.results[0].judge.name == "stub"


def test_a_null_score_is_nan_in_the_frame_and_its_reason_stays_in_the_results():
    no_reference = {k: v for k, v in SAMPLE.items() if k != "reference"}
    result = evaluate(pd.DataFrame([no_reference]), metrics=["faithfulness", "context_recall"], judge=StubJudge())
    frame = result.to_pandas()
    assert frame["context_recall"].isna().all()
    assert result.results[0].details.context_recall.reason == "needs_reference"


def test_ragas_metric_objects_and_names_are_understood_and_unknown_ones_refused():
    class RagasMetric:  # what a ragas metric object offers: its name
        name = "llm_context_precision_with_reference"

    result = evaluate([SAMPLE], metrics=[RagasMetric(), "faithfulness"], judge=StubJudge())
    assert list(result.to_pandas().columns)[-2:] == ["context_precision", "faithfulness"]
    with pytest.raises(ValueError, match="no metric 'bleu_score'"):
        evaluate([SAMPLE], metrics=["bleu_score"], judge=StubJudge())


async def test_it_runs_inside_a_running_event_loop_as_in_jupyter():
    assert asyncio.get_running_loop()
    assert evaluate([SAMPLE], judge=StubJudge()).to_pandas().shape == (1, len(RAGAS_COLUMNS))


def test_a_ragas_evaluation_dataset_is_accepted():
    ragas = pytest.importorskip("ragas", reason="the optional extra is not installed: pip install 'ragmeter[ragas]'")
    dataset = ragas.EvaluationDataset.from_list([SAMPLE])
    assert list(evaluate(dataset, judge=StubJudge()).to_pandas().columns) == RAGAS_COLUMNS
