"""The metric registry: a metric declared once is scored, listed, exported and gated; NaN never becomes a number."""
from __future__ import annotations

import io
import json
import math
from dataclasses import replace

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from pydantic.fields import FieldInfo

from ragmeter.metrics import METRICS, Sample, score_sample
from ragmeter.metrics.judgements import (ClaimVerdict, ContextVerdict, Decomposition, GeneratedQuestion, JudgeInfo,
                                         Relevance, StatementVerdict, Verification)
from ragmeter.metrics.metric import Metric
from ragmeter.metrics.results import Details, Scores
from ragmeter.metrics.metric_score import MetricScore
from ragmeter.service.server.app import create_app
from ragmeter.service.cli import main
from ragmeter.service.rows import PARQUET_SCHEMA, ScoredRow
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, upload, wait_done

NAN, INF = float("nan"), float("inf")
SAMPLE = Sample(user_input="When was the tower built?", retrieved_contexts=["The tower was built in 1889."],
                response="The tower was built in 1889.", reference="It was built in 1889.")


def field_problems(metrics: tuple[Metric, ...]) -> list[str]:
    """What to add so that Scores, Details and ScoredRow (written out for type checkers) list exactly `metrics`."""
    names = [m.name for m in metrics]
    problems = []
    for m in metrics:
        if Scores.model_fields.get(m.name, FieldInfo()).annotation != float | None:
            problems.append(f'metrics/results.py: add `{m.name}: float | None = score_field("{m.name}")` to Scores')
        if Details.model_fields.get(m.name, FieldInfo()).annotation is not m.detail:
            problems.append(f"metrics/results.py: add `{m.name}: {m.detail.__name__}` to Details")
        if ScoredRow.model_fields.get(m.name, FieldInfo()).annotation != float | None:
            problems.append(f"service/rows.py: add `{m.name}: float | None = None` to ScoredRow, "
                            "after the other metrics")
    columns = list(ScoredRow.model_fields)
    # Results list metrics in the registry's order; CSV columns and the Parquet schema follow it too.
    for model, fields in (("Scores", list(Scores.model_fields)), ("Details", list(Details.model_fields)),
                          ("ScoredRow", columns[columns.index("reference") + 1:columns.index("gate_passed")])):
        if not problems and fields != names:
            problems.append(f"{model}'s metric fields must be the registered metrics in the registry's order: "
                            f"{fields} != {names}")
    return problems


def test_results_and_rows_have_one_field_per_registered_metric():
    assert field_problems(METRICS) == []
    assert list(ScoredRow.model_fields) == PARQUET_SCHEMA.names


def test_a_metric_registered_without_its_fields_fails_saying_what_to_add():
    tone = replace(METRICS[0], name="tone", detail=ToneDetail)
    assert field_problems((*METRICS, tone)) == [
        'metrics/results.py: add `tone: float | None = score_field("tone")` to Scores',
        "metrics/results.py: add `tone: ToneDetail` to Details",
        "service/rows.py: add `tone: float | None = None` to ScoredRow, after the other metrics"]
    assert "registry's order" in field_problems(tuple(reversed(METRICS)))[0]


class ToneDetail(MetricScore):
    pass


@pytest.mark.parametrize("value", [NAN, INF, -INF])
def test_nan_or_infinity_is_null_with_invalid_value_never_a_number(value):
    score = MetricScore.of(value)
    assert score.score is None and score.reason == "invalid_value"


class NaNJudge(StubJudge):
    """Puts NaN (or an infinity) wherever the judge protocol carries a float."""

    info = JudgeInfo(name="nan")

    def __init__(self, value: float, direct: bool):
        super().__init__()
        self.value, self.direct = value, direct

    async def decompose(self, sample, need, usage):
        return Decomposition(claims=[sample.response], questions=["q1", "q2"], statements=[sample.reference])

    async def verify(self, sample, parts, need, usage):
        return Verification(
            claims=[ClaimVerdict(claim=c, verdict="supported", evidence=c, probability=self.value)
                    for c in parts.claims],
            statements=[StatementVerdict(statement=s, attributable=False, probability=self.value)
                        for s in parts.statements],
            contexts=[ContextVerdict(index=0, useful=True, probability=self.value)])

    async def relevance(self, sample, parts, usage):
        if self.direct:
            return Relevance(estimate=self.value, signals={"similarity": self.value})
        return Relevance(questions=[GeneratedQuestion(question=q, similarity=self.value) for q in parts.questions])

    async def embed(self, texts, usage):
        return [[self.value, 1.0] for _ in texts]


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("value", [NAN, INF])
async def test_nan_fed_through_every_formula_gives_no_nan_and_no_made_up_score(value, direct):
    result = await score_sample(SAMPLE, NaNJudge(value, direct), [m.name for m in METRICS])
    for name, score in result.scores.model_dump().items():
        assert score is None or (math.isfinite(score) and 0.0 <= score <= 1.0), name
    # The float-valued formulas met the NaN: null with a reason, and an error saying so.
    for name in ("answer_relevancy", "semantic_similarity"):
        assert getattr(result.scores, name) is None
        assert getattr(result.details, name).reason == "invalid_value"
        assert any(e.stage == name and e.kind == "invalid_value" for e in result.errors)
    # Count-based formulas do not read the probabilities, so they still score.
    assert result.scores.faithfulness == 1.0 and result.scores.context_recall == 0.0


# ---------------------------------------------------------------- the worked example: semantic_similarity
def test_the_fifth_metric_is_scored_only_when_asked_for():
    judge = StubJudge()

    async def both():
        return (await score_sample(SAMPLE, judge), await score_sample(SAMPLE, judge, ["semantic_similarity"]))

    import asyncio

    default, asked = asyncio.run(both())
    assert default.details.semantic_similarity.reason == "not_requested"
    assert asked.scores.semantic_similarity == 1.0  # the stub embeds every text alike
    assert asked.details.faithfulness.reason == "not_requested"
    no_reference = asyncio.run(score_sample(SAMPLE.model_copy(update={"reference": None}), judge,
                                            ["semantic_similarity"]))
    assert no_reference.details.semantic_similarity.reason == "needs_reference"


def test_the_fifth_metric_reaches_batch_exports_and_summaries():
    data = [{"id": "a", "question": "Q?", "contexts": ["C."], "answer": "A.", "reference": "A."}]
    with TestClient(create_app(Settings(), judge=StubJudge())) as client:
        batch = upload(client, as_file(data, "jsonl"), "set.jsonl", metrics="faithfulness,semantic_similarity").json()
        assert wait_done(client, batch["id"])["status"] == "done"
        csv = pd.read_csv(io.BytesIO(client.get(f"/v1/batches/{batch['id']}/results?format=csv").content))
        summary = client.get(f"/v1/batches/{batch['id']}/summary").json()
    assert list(csv["semantic_similarity"]) == [1.0]
    assert summary["metrics"]["semantic_similarity"]["n"] == 1


def test_the_ci_gate_scores_a_metric_that_a_rule_names(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps({"id": "same", "question": "Where is the head office?",
                                "contexts": ["The head office is in Delhi."], "answer": "The head office is in Delhi.",
                                "reference": "The head office is in Delhi."}) + "\n")
    config = tmp_path / "ragmeter.toml"
    config.write_text('[gate]\nmetrics = ["faithfulness"]\nmin_mean = {semantic_similarity = 0.99}\n')
    assert main(["gate", str(data), "--config", str(config), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    rule = next(r for r in verdict["rules"] if r["name"] == "min_mean.semantic_similarity")
    assert rule["passed"] and rule["actual"] == pytest.approx(1.0, abs=1e-3)


def test_an_unknown_metric_in_the_gate_config_is_a_usage_error(tmp_path, capsys):
    config = tmp_path / "ragmeter.toml"
    config.write_text("[gate]\nmin_mean = {faithfullness = 0.8}\n")
    assert main(["gate", "--scored", str(tmp_path / "none.jsonl"), "--config", str(config)]) == 2
    assert "faithfullness" in capsys.readouterr().out
