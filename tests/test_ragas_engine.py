"""RAGMETER_JUDGE=ragas: ragas' own metrics behind ragmeter's API, against the judge simulator (no network).

The simulator judges nothing: these tests check the shape, the call and token counts, the cache,
NaN handling and failures, never the scores' values.
"""
from __future__ import annotations

import os
import sys

import pytest
from fastapi.testclient import TestClient
from ragmeter.service.server.app import create_app
from ragmeter.service.cli import main
from ragmeter.service.judge_setup import judge_problem
from ragmeter.service.settings import Settings

from .helpers import SAMPLE
from .judge_sim_server import JudgeSim

FOUR = ["faithfulness", "answer_relevancy", "context_precision", "context_recall"]


def test_without_the_extra_the_service_refuses_to_start_and_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ragas", None)  # what an installation without the extra sees
    monkeypatch.setenv("RAGMETER_JUDGE", "ragas")
    assert "pip install 'ragmeter[ragas]'" in judge_problem(Settings())
    assert main(["serve", "--port", "8299"]) == 2
    assert "pip install 'ragmeter[ragas]'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def ragas():
    return pytest.importorskip("ragas", reason="the optional extra is not installed: pip install 'ragmeter[ragas]'")


@pytest.fixture(scope="module")
def sim(ragas):
    server = JudgeSim()
    yield server
    server.stop()


@pytest.fixture
def service(sim, monkeypatch):
    def start(**settings):
        monkeypatch.setenv("OPENAI_BASE_URL", sim.url)
        monkeypatch.setenv("OPENAI_API_KEY", "sim")
        sim.reset()
        return TestClient(create_app(Settings(judge="ragas", judge_max_retries=0, **settings)))
    return start


def test_ragas_scores_come_back_in_ragmeters_shape_with_usage_counted_from_the_calls(service, sim, ragas,
                                                                                      monkeypatch):
    import ragas._analytics
    import tiktoken

    def no_download(*args, **kwargs):
        raise AssertionError("tiktoken would download an encoding")

    posted = []
    monkeypatch.setattr(tiktoken, "get_encoding", no_download)
    monkeypatch.setattr(tiktoken, "encoding_for_model", no_download)
    monkeypatch.setattr(ragas._analytics.requests, "post", lambda *a, **k: posted.append(a))
    with service() as client:
        response = client.post("/v1/evaluate", json={"samples": [SAMPLE]})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]

    assert result["judge"] == {"name": "ragas", "model": "gpt-4o-mini", "embedding_model": "text-embedding-3-small",
                               "version": ragas.__version__}
    assert all(0.0 <= result["scores"][m] <= 1.0 for m in FOUR), result["scores"]
    assert result["errors"] == []
    # ragas' own call pattern: 2 for faithfulness, 3 questions, 1 per context (2 here), 1 for recall.
    stats = sim.stats()
    assert result["usage"]["chat_calls"] == stats["chat_requests"] == 8
    # The simulator adds embedding tokens to its prompt tokens.
    assert result["usage"]["prompt_tokens"] + result["usage"]["embedding_tokens"] == stats["prompt_tokens"]
    assert result["usage"]["embedding_calls"] == stats["embedding_requests"]
    # What ragas explains becomes the details: its statements and verdicts, questions, per-context verdicts.
    details = result["details"]
    assert details["faithfulness"]["claims"] and all(c["reason"] for c in details["faithfulness"]["claims"])
    assert len(details["answer_relevancy"]["questions"]) == 3
    assert len(details["context_precision"]["contexts"]) == len(SAMPLE["retrieved_contexts"])
    assert details["context_recall"]["statements"]
    assert result["gate"]["threshold"] == 0.2
    assert posted == []  # no usage analytics sent to ragas' vendor


def test_the_same_request_twice_is_answered_from_the_cache(service, sim):
    with service() as client:
        first = client.post("/v1/evaluate", json={"samples": [SAMPLE]}).json()["results"][0]
        calls = sim.stats()["chat_requests"]
        again = client.post("/v1/evaluate", json={"samples": [SAMPLE]}).json()["results"][0]
    assert sim.stats()["chat_requests"] == calls
    assert again["usage"]["chat_calls"] == 0 and again["usage"]["cached_calls"] >= first["usage"]["chat_calls"]
    assert again["scores"] == first["scores"]


def test_where_ragas_gives_nan_the_score_is_null_with_a_reason(ragas, monkeypatch):
    empty = JudgeSim("--list-len", "0")  # every list in every reply is empty: no statements at all
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", empty.url)
        with TestClient(create_app(Settings(judge="ragas", judge_max_retries=0))) as client:
            result = client.post("/v1/evaluate", json={"samples": [SAMPLE]}).json()["results"][0]
    finally:
        empty.stop()
    assert result["scores"]["faithfulness"] is None
    assert result["details"]["faithfulness"]["reason"] == "no_claims"
    assert result["scores"]["context_recall"] is None
    assert result["details"]["context_recall"]["reason"] == "no_statements"
    assert result["gate"]["passed"] is True and "no_claims" in result["gate"]["notes"][0]


def test_a_judge_that_fails_nulls_the_scores_with_judge_error_and_blocks_the_gate(ragas, monkeypatch):
    failing = JudgeSim("--error-rate", "1", "--error-codes", "500")
    try:
        monkeypatch.setenv("OPENAI_BASE_URL", failing.url)
        with TestClient(create_app(Settings(judge="ragas", judge_max_retries=0))) as client:
            result = client.post("/v1/evaluate", json={"samples": [SAMPLE], "metrics": ["faithfulness"]}).json()
    finally:
        failing.stop()
    result = result["results"][0]
    assert result["scores"]["faithfulness"] is None
    assert result["details"]["faithfulness"]["reason"] == "judge_error"
    assert result["errors"][0]["stage"] == "ragas:faithfulness" and result["errors"][0]["kind"] == "http_500"
    assert result["gate"]["passed"] is False


def test_building_the_engine_turns_ragas_analytics_off_unless_the_user_chose(ragas, monkeypatch):
    from ragmeter.metrics.judges.ragas_engine import RagasEngine

    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # nothing is called
    monkeypatch.delenv("RAGAS_DO_NOT_TRACK", raising=False)
    engine = RagasEngine(model="judge", embedding_model="embedder")
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "true"
    # One ragas metric per counterpart the metrics declare, with context precision's no-reference one.
    assert set(engine.metrics) == {"Faithfulness", "AnswerRelevancy", "ContextPrecision", "ContextUtilization",
                                   "ContextRecall", "SemanticSimilarity", "AnswerCorrectness"}

    monkeypatch.setenv("RAGAS_DO_NOT_TRACK", "false")
    RagasEngine(model="judge", embedding_model="embedder")
    assert os.environ["RAGAS_DO_NOT_TRACK"] == "false"
