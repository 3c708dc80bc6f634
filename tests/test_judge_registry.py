"""The judge registry: every name and alias selects its judge, `local` still works (reporting `embedded`), an unknown
name lists the choices, and whether a judge is a whole-metric engine comes from its declaration."""
from __future__ import annotations

import inspect
import json
import logging
import os
import subprocess
import sys

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from ragmeter.metrics import METRICS, Sample, score_sample
from ragmeter.metrics.judgements import JudgeInfo
from ragmeter.metrics.judges import Judge, MetricEngine
from ragmeter.metrics.judges.cascade import CascadeJudge
from ragmeter.metrics.judges.embedded import judge as embedded_module
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.llm import LLMJudge
from ragmeter.metrics.judges.ragas_engine import RagasEngine
from ragmeter.metrics.registry import BY_NAME
from ragmeter.metrics.judges.registry import JUDGE_SPELLINGS, JUDGES, UnknownJudge, is_engine, resolve
from ragmeter.service import judge_setup
from ragmeter.service.cli import main
from ragmeter.service.judge_setup import build_judge, judge_kind
from ragmeter.service.notebook import evaluate
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import SAMPLE, StubJudge, as_file

# Every spelling users have: the judge it selects and the class that judge is.
SPELLINGS = {
    "embedded": ("embedded", EmbeddedJudge),
    "local": ("embedded", EmbeddedJudge),  # the original name, deprecated
    "openai": ("openai", LLMJudge),
    "ragmeter": ("openai", LLMJudge),  # compare-judges' and the notebook's name for ragmeter's own LLM judge
    "cascade": ("cascade", CascadeJudge),
    "ragas": ("ragas", RagasEngine),
}


@pytest.fixture
def llm_server(monkeypatch):
    """OPENAI_* set, so judges that need an LLM can be built (nothing is called)."""
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def no_llm(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def deprecation_log(monkeypatch):
    """The judge logger's warnings, with the once-per-process memory cleared."""
    monkeypatch.setattr(judge_setup, "_warned", set())
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("ragmeter.judge")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


@pytest.fixture(scope="module")
def embedded():
    return EmbeddedJudge()


def test_every_spelling_is_registered_and_nothing_else():
    assert set(JUDGE_SPELLINGS) == set(SPELLINGS)
    assert [spec.name for spec in JUDGES] == ["embedded", "openai", "cascade", "ragas"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_each_name_and_alias_selects_its_judge_in_the_settings(spelling, monkeypatch):
    name, _ = SPELLINGS[spelling]
    monkeypatch.setenv("RAGMETER_JUDGE", spelling)
    assert resolve(spelling).name == name
    assert judge_kind(Settings()) == name


@pytest.mark.parametrize("spelling", [s for s in SPELLINGS if SPELLINGS[s][0] != "ragas"])
def test_each_name_and_alias_builds_the_judge_that_reports_its_canonical_name(spelling, llm_server, monkeypatch,
                                                                              embedded):
    name, cls = SPELLINGS[spelling]
    # The embedded judge's weights load once for the module; the judges that contain it get that one.
    monkeypatch.setattr(embedded_module, "EmbeddedJudge", lambda **options: embedded)
    judge = build_judge(Settings(judge=spelling))
    assert isinstance(judge, cls)
    assert judge.info.name == name


def test_the_ragas_engine_is_built_for_its_name_when_the_extra_is_installed(llm_server):
    pytest.importorskip("ragas", reason="the optional extra is not installed: pip install 'ragmeter[ragas]'")
    judge = build_judge(Settings(judge="ragas"))
    assert isinstance(judge, RagasEngine) and judge.info.name == "ragas"


def test_auto_is_the_llm_judge_with_openai_variables_and_the_embedded_one_without(monkeypatch, no_llm):
    assert judge_kind(Settings(judge="auto")) == "embedded"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert judge_kind(Settings(judge="auto")) == "openai"


def test_a_judge_that_needs_an_llm_is_not_built_without_one(no_llm):
    for spec in JUDGES:
        if spec.needs_llm and not spec.problem():
            assert build_judge(Settings(judge=spec.name)) is None, spec.name
    assert "RAGMETER_JUDGE=embedded" in judge_setup.NO_JUDGE


def test_the_deprecated_local_still_scores_reports_embedded_and_warns_once(no_llm, deprecation_log, monkeypatch):
    monkeypatch.setenv("RAGMETER_JUDGE", "local")
    with TestClient(create_app(Settings())) as client:
        response = client.post("/v1/evaluate", json={"samples": [SAMPLE]})
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["judge"]["name"] == "embedded"
    assert result["scores"]["faithfulness"] is not None

    assert judge_kind(Settings()) == "embedded"  # asked again: no second warning
    [warning] = deprecation_log
    assert warning.levelno == logging.WARNING
    assert "'local' is deprecated" in warning.getMessage() and "RAGMETER_JUDGE=embedded" in warning.getMessage()


def test_the_canonical_name_logs_no_deprecation(deprecation_log):
    for spec in JUDGES:
        judge_kind(Settings(judge=spec.name))
    assert deprecation_log == []


def test_settings_and_help_name_the_deprecation_and_the_unrelated_executor(capsys):
    described = Settings.model_fields["judge"].description or ""
    assert "local: deprecated name of embedded" in described
    assert "Unrelated to RAGMETER_JUDGE" in (Settings.model_fields["executor"].description or "")
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    printed = " ".join(capsys.readouterr().out.split())
    assert "embedded (or local, deprecated)" in printed and "unrelated to the judge" in printed


def test_an_unknown_name_is_refused_with_the_choices_everywhere(tmp_path, monkeypatch, capsys):
    with pytest.raises(UnknownJudge) as refused:
        resolve("deepeval")
    assert all(name in str(refused.value) for name in ("embedded", "local", "openai", "ragmeter", "cascade", "ragas"))

    with pytest.raises(ValidationError) as invalid:
        Settings(judge="deepeval")
    assert all(f"'{name}'" in str(invalid.value) for name in ("auto", "embedded", "local", "cascade", "ragas"))

    with pytest.raises(ValueError) as notebook:
        evaluate([SAMPLE], judge="deepeval")
    assert "auto, embedded (or local, deprecated), openai (or ragmeter), cascade, ragas" in str(notebook.value)

    data = tmp_path / "rows.jsonl"
    data.write_bytes(as_file([SAMPLE], "jsonl"))
    assert main(["compare-judges", str(data), "--judges", "embedded,deepeval"]) == 2
    assert "auto, embedded (or local, deprecated), openai (or ragmeter)" in capsys.readouterr().err

    monkeypatch.setenv("RAGMETER_JUDGE", "deepeval")
    assert main(["score", str(data)]) == 2
    assert "RAGMETER_JUDGE" in (err := capsys.readouterr().err) and "'embedded'" in err


def test_only_ragas_is_declared_a_whole_metric_engine():
    assert {spec.name: spec.protocol for spec in JUDGES} == {
        "embedded": Judge, "openai": Judge, "cascade": Judge, "ragas": MetricEngine}


@pytest.mark.parametrize("cls, protocol", [(EmbeddedJudge, Judge), (LLMJudge, Judge), (CascadeJudge, Judge),
                                           (RagasEngine, MetricEngine)])
def test_each_judge_class_has_what_its_declared_protocol_asks(cls, protocol):
    wanted = {name for name, _ in inspect.getmembers(protocol) if not name.startswith("_")}
    assert wanted <= {name for name, _ in inspect.getmembers(cls)}, protocol.__name__


class HasScoreMetrics(StubJudge):
    """A per-judgement judge that happens to have a `score_metrics` method: it is still a judge."""

    async def score_metrics(self, sample, names, usage, errors):
        raise AssertionError("a judge not declared an engine was asked for whole metrics")


class FakeRagas:
    """What the registry declares `ragas` to be: whole metrics, no decompose or verify."""

    info = JudgeInfo(name="ragas", model="fake")
    default_threshold = 0.2

    async def score_metrics(self, sample, names, usage, errors):
        return {name: BY_NAME[name].detail.of(0.25) for name in names}


async def test_scoring_asks_the_declaration_not_the_methods_whether_a_judge_is_an_engine():
    sample = Sample.model_validate(SAMPLE)
    assert not is_engine(HasScoreMetrics()) and is_engine(FakeRagas())

    judged = await score_sample(sample, HasScoreMetrics(), ["faithfulness"])
    # The stub's judgements: its one claim is the whole answer.
    assert [c.claim for c in judged.details.faithfulness.claims] == [sample.response]

    engine = await score_sample(sample, FakeRagas(), ["faithfulness", "answer_relevancy"])
    assert (engine.scores.faithfulness, engine.scores.answer_relevancy) == (0.25, 0.25)


def test_every_metric_declares_its_ragas_counterpart():
    assert {m.name: m.ragas.metric for m in METRICS if m.ragas} == {
        "faithfulness": "Faithfulness", "answer_relevancy": "AnswerRelevancy", "context_precision": "ContextPrecision",
        "context_recall": "ContextRecall", "semantic_similarity": "SemanticSimilarity",
        "answer_correctness": "AnswerCorrectness"}


def test_the_ragas_engine_module_imports_without_changing_the_environment():
    env = {k: v for k, v in os.environ.items() if k != "RAGAS_DO_NOT_TRACK"}
    code = ("import json, os; before = dict(os.environ); import ragmeter.metrics.judges.ragas_engine; "
            "print(json.dumps(dict(os.environ) == before))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert json.loads(out) is True
