"""End to end: the app over HTTP, scoring with the LLM judge against a scripted OpenAI-protocol server."""
from __future__ import annotations

import pytest

from .helpers import CONTEXTS, SAMPLE, make_client
from .scripted_judge import Fault

# #22's diagnostic metrics, computed only when asked for.
OPT_IN = ["answer_correctness", "overall_precision", "overall_recall", "overall_f1", "claim_recall",
          "retriever_context_precision", "context_utilization", "noise_sensitivity_relevant",
          "noise_sensitivity_irrelevant", "hallucination", "self_knowledge", "citation_recall", "citation_precision"]


def evaluate(client, *samples, **body):
    response = client.post("/v1/evaluate", json={"samples": list(samples), **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_normal_sample_scores_all_four_metrics_with_evidence_in_two_chat_calls(client, fake):
    result = evaluate(client, SAMPLE)["results"][0]

    assert result["scores"] == pytest.approx({"faithfulness": 2 / 3, "answer_relevancy": 1.0,
                                              "context_precision": 1.0, "context_recall": 1.0,
                                              "semantic_similarity": None, **dict.fromkeys(OPT_IN)})
    # A metric that is not computed by default says so rather than look like a failure.
    assert result["details"]["semantic_similarity"] == {"score": None, "reason": "not_requested"}
    claims = result["details"]["faithfulness"]["claims"]
    assert [c["verdict"] for c in claims] == ["supported", "supported", "unsupported"]
    assert claims[1]["evidence"] == "It was completed in 1889 for the World's Fair"
    assert claims[1]["context_index"] == 0
    assert result["gate"] == {"passed": False, "hallucination_score": pytest.approx(1 / 3), "threshold": 0.2,
                              "unsupported_claims": ["It is 500 metres tall."],
                              "failed_rules": ["hallucination_score 0.333 > threshold 0.200"], "notes": []}
    assert result["details"]["context_precision"]["basis"] == "reference"
    assert [c["useful"] for c in result["details"]["context_precision"]["contexts"]] == [True, False]
    assert result["judge"] == {"name": "openai", "model": "scripted", "embedding_model": "scripted-embed"}
    assert result["usage"]["chat_calls"] == 2 and result["usage"]["embedding_calls"] == 1
    assert result["errors"] == []
    assert len(fake.chat_requests) == 2
    # Every context went to the judge once, in the verify call only.
    sent = [m["content"] for r in fake.chat_requests for m in r["messages"]]
    assert sum(s.count(CONTEXTS[1]) for s in sent) == 1
    assert all(r["temperature"] == 0 for r in fake.chat_requests)


def test_repeated_request_costs_no_call(client, fake):
    first = evaluate(client, SAMPLE)
    fake.reset()
    second = evaluate(client, SAMPLE)

    assert fake.chat_requests == [] and fake.embedding_requests == []
    assert second["usage"]["chat_calls"] == 0 and second["usage"]["cached_calls"] == 3
    assert second["results"][0]["scores"] == first["results"][0]["scores"]


def test_disk_cache_survives_a_restart(fake, tmp_path):
    cache = str(tmp_path / "cache.sqlite3")
    from ragmeter.metrics.judges.cache import ReplyCache

    with make_client(fake, cache=ReplyCache(path=cache)) as c:
        evaluate(c, SAMPLE)
    fake.reset()
    with make_client(fake, cache=ReplyCache(path=cache)) as c:
        again = evaluate(c, SAMPLE)
    assert fake.chat_requests == [] and again["usage"]["chat_calls"] == 0


def test_classic_field_names_are_accepted(client):
    classic = {"question": SAMPLE["user_input"], "contexts": CONTEXTS, "answer": SAMPLE["response"],
               "ground_truth": SAMPLE["reference"], "id": "q-7"}
    result = evaluate(client, classic)["results"][0]
    assert result["id"] == "q-7"
    assert result["scores"]["context_recall"] == 1.0


def test_malformed_judge_json_is_repaired_once(client, fake):
    fake.push(Fault("malformed"))
    result = evaluate(client, SAMPLE)["results"][0]

    assert result["errors"] == []
    assert result["scores"]["faithfulness"] == pytest.approx(2 / 3)
    assert result["usage"]["chat_calls"] == 3
    repair = fake.chat_requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "not valid" in repair[-1]["content"]


def test_wrong_number_of_verdicts_is_repaired(client, fake):
    # The decompose call answers normally; the verify call drops one verdict; the repair is right.
    fake.push(Fault("pass"), Fault("wrong_count"))
    result = evaluate(client, SAMPLE, metrics=["faithfulness"])["results"][0]

    assert result["errors"] == []
    assert result["usage"]["chat_calls"] == 3
    assert len(result["details"]["faithfulness"]["claims"]) == 3
    assert "must hold exactly 3" in fake.chat_requests[2]["messages"][-1]["content"]


def test_invalid_output_twice_is_an_explicit_error_not_a_default(client, fake):
    fake.push(Fault("malformed"), Fault("malformed"))
    body = evaluate(client, SAMPLE)
    result = body["results"][0]

    assert [(e["stage"], e["kind"]) for e in result["errors"]] == [("decompose", "invalid_output")]
    assert result["scores"]["faithfulness"] is None
    assert result["details"]["faithfulness"]["reason"] == "judge_error"
    assert result["scores"]["answer_relevancy"] is None
    assert result["scores"]["context_recall"] is None
    # Context precision needs no decomposition and is still scored.
    assert result["scores"]["context_precision"] == 1.0
    # The gate fails closed by default when it cannot tell...
    assert result["gate"]["passed"] is False
    assert result["gate"]["failed_rules"] == ["faithfulness unavailable (judge_error); on_error=block"]


def test_gate_can_be_told_to_allow_on_judge_error(client, fake):
    fake.push(Fault("malformed"), Fault("malformed"))
    result = evaluate(client, SAMPLE, gate={"on_error": "allow"})["results"][0]
    assert result["gate"]["passed"] is True
    assert result["gate"]["notes"] == ["faithfulness not checked (judge_error)"]


def test_rate_limited_then_success_honours_retry_after(client, fake):
    fake.push(Fault("status", 429, {"retry-after-ms": "10"}))
    result = evaluate(client, SAMPLE)["results"][0]

    assert result["errors"] == []
    assert result["scores"]["faithfulness"] == pytest.approx(2 / 3)
    assert len(fake.chat_requests) == 3  # the 429, its retry, the verify call


def test_server_errors_beyond_the_retries_become_a_per_sample_error(fake):
    with make_client(fake, max_retries=1) as c:
        fake.push(Fault("status", 503, {"retry-after-ms": "1"}), Fault("status", 503, {"retry-after-ms": "1"}))
        result = evaluate(c, SAMPLE)["results"][0]
    assert result["errors"][0]["kind"] == "http_503"
    assert result["scores"]["faithfulness"] is None


def test_a_timeout_is_retried(fake):
    with make_client(fake, timeout=0.3, max_retries=2) as c:
        fake.push(Fault("hang"))
        result = evaluate(c, SAMPLE)["results"][0]
    assert result["errors"] == []
    assert result["scores"]["faithfulness"] == pytest.approx(2 / 3)


def test_a_judge_that_never_answers_gives_a_timeout_error(fake):
    with make_client(fake, timeout=0.3, max_retries=0) as c:
        fake.push(Fault("hang"))
        result = evaluate(c, SAMPLE, metrics=["faithfulness"])["results"][0]
    assert result["errors"] == [{"stage": "decompose", "kind": "timeout",
                                 "message": "the judge did not answer in time, after retries"}]
    assert result["details"]["faithfulness"]["reason"] == "judge_error"


def test_refusal_has_no_claims_and_passes_the_gate(client):
    refusal = {**SAMPLE, "response": "I don't know."}
    result = evaluate(client, refusal)["results"][0]

    assert result["scores"]["faithfulness"] is None
    assert result["details"]["faithfulness"]["reason"] == "no_claims"
    assert result["scores"]["answer_relevancy"] == 0.0
    assert result["details"]["answer_relevancy"]["noncommittal"] is True
    assert result["gate"]["passed"] is True
    assert result["gate"]["hallucination_score"] is None
    assert "no_claims" in result["gate"]["notes"][0]


def test_missing_reference_nulls_recall_and_judges_precision_against_the_answer(client):
    no_reference = {k: v for k, v in SAMPLE.items() if k != "reference"}
    result = evaluate(client, no_reference)["results"][0]

    assert result["scores"]["context_recall"] is None
    assert result["details"]["context_recall"]["reason"] == "needs_reference"
    assert result["details"]["context_precision"]["basis"] == "response"
    assert result["scores"]["context_precision"] == 1.0
    assert result["scores"]["faithfulness"] == pytest.approx(2 / 3)


def test_only_requested_metrics_are_computed(client, fake):
    result = evaluate(client, SAMPLE, metrics=["context_precision"])["results"][0]

    assert result["usage"]["chat_calls"] == 1 and result["usage"]["embedding_calls"] == 0
    assert result["scores"]["faithfulness"] is None
    assert result["details"]["faithfulness"]["reason"] == "not_requested"
    assert result["scores"]["context_precision"] == 1.0


def test_per_request_threshold_and_minimums(client):
    result = evaluate(client, SAMPLE, gate={"threshold": 0.4, "min_scores": {"context_recall": 0.9}})["results"][0]
    assert result["gate"]["passed"] is True and result["gate"]["threshold"] == 0.4

    strict = evaluate(client, {**SAMPLE, "retrieved_contexts": CONTEXTS[::-1]},
                      gate={"threshold": 0.4, "min_scores": {"context_precision": 0.9}})["results"][0]
    assert strict["scores"]["context_precision"] == 0.5
    assert strict["gate"]["passed"] is False
    assert strict["gate"]["failed_rules"] == ["context_precision 0.500 < minimum 0.900"]


@pytest.mark.parametrize(("change", "loc", "status"), [
    ({"response": "  "}, ["body", "samples", 0, "response"], 422),
    ({"retrieved_contexts": ["ok", 3]}, ["body", "samples", 0, "retrieved_contexts"], 422),
    ({"retrieved_contexts": ["ok", ""]}, ["body", "samples", 0, "retrieved_contexts"], 422),
    ({"retrieved_contexts": []}, ["body", "samples", 0, "retrieved_contexts"], 422),
    ({"response": "x" * 20_001}, ["body", "samples", 0, "response"], 422),
    ({"user_input": None}, ["body", "samples", 0, "user_input"], 422),
])
def test_bad_input_names_the_field(client, fake, change, loc, status):
    response = client.post("/v1/evaluate", json={"samples": [{**SAMPLE, **change}]})
    assert response.status_code == status, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]
    assert fake.chat_requests == []


def test_unknown_metric_is_rejected(client):
    response = client.post("/v1/evaluate", json={"samples": [SAMPLE], "metrics": ["faithfulness", "bleu"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "metrics", 1]


def test_too_many_samples_points_to_batch_scoring(fake):
    with make_client(fake, settings={"max_samples_per_request": 2}) as c:
        response = c.post("/v1/evaluate", json={"samples": [SAMPLE] * 3})
    assert response.status_code == 413
    assert "/v1/batches" in response.json()["detail"]


def test_judge_calls_in_flight_are_capped(fake):
    fake.latency_s = 0.02
    try:
        with make_client(fake, concurrency=2) as c:
            samples = [{**SAMPLE, "user_input": f"Question {i}?"} for i in range(8)]
            body = evaluate(c, *samples)
    finally:
        fake.latency_s = 0.0
    assert fake.max_in_flight == 2
    assert body["usage"]["chat_calls"] == 16


def test_health_readiness_and_metric_catalog(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"] is True
    catalog = client.get("/v1/metrics").json()
    assert [m["name"] for m in catalog] == ["faithfulness", "answer_relevancy", "context_precision", "context_recall",
                                            "semantic_similarity", *OPT_IN]
    assert [m["default"] for m in catalog] == [True, True, True, True, False] + [False] * len(OPT_IN)
    recall = catalog[3]
    assert "reference" in recall["required_fields"] and "needs_reference" in recall["null_reasons"]
    assert all("invalid_value" in m["null_reasons"] for m in catalog)
    assert "/v1/evaluate" in client.get("/openapi.json").json()["paths"]


def test_asking_for_the_llm_judge_without_configuring_it_says_how(monkeypatch):
    from fastapi.testclient import TestClient

    from ragmeter.service.server.app import create_app
    from ragmeter.service.settings import Settings

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with TestClient(create_app(Settings(judge="openai"))) as c:
        assert c.get("/readyz").status_code == 503
        response = c.post("/v1/evaluate", json={"samples": [SAMPLE]})
    assert response.status_code == 503 and "OPENAI_API_KEY" in response.json()["detail"]


def test_embedding_model_local_needs_no_embedding_endpoint(fake):
    with make_client(fake, embedding_model="local") as c:
        result = evaluate(c, SAMPLE, metrics=["answer_relevancy"])["results"][0]
    assert fake.embedding_requests == []
    assert result["scores"]["answer_relevancy"] == pytest.approx(1.0, abs=1e-5)


def test_a_server_that_refuses_json_schema_is_asked_with_json_mode_and_readyz_says_so(fake):
    fake.reject_formats = {"json_schema"}
    with make_client(fake, max_retries=0) as c:
        result = evaluate(c, SAMPLE)["results"][0]
        assert result["errors"] == [] and result["scores"]["faithfulness"] == pytest.approx(2 / 3)
        formats = [(r.get("response_format") or {}).get("type") for r in fake.chat_requests]
        assert formats[0] == "json_schema" and formats[-1] == "json_object"
        assert "json_object" in c.get("/readyz").json()["reason"]


def test_a_server_without_json_modes_is_asked_through_the_prompt_alone(fake):
    fake.reject_formats = {"json_schema", "json_object"}
    with make_client(fake, max_retries=0) as c:
        result = evaluate(c, SAMPLE)["results"][0]
    assert result["errors"] == [] and result["scores"]["context_recall"] == 1.0
    assert "response_format" not in fake.chat_requests[-1]


def test_a_judge_that_keeps_failing_trips_the_breaker_and_requests_fail_fast(fake):
    from ragmeter.metrics.judges.breaker import CircuitBreaker

    fake.push(*[Fault("status", status=503)] * 4)
    with make_client(fake, max_retries=0, breaker=CircuitBreaker(failures=2, cooldown_s=300)) as c:
        first = evaluate(c, SAMPLE)["results"][0]
        assert {e["kind"] for e in first["errors"]} == {"http_503"}
        calls = len(fake.chat_requests)
        refused = c.post("/v1/evaluate", json={"samples": [SAMPLE]})
        assert refused.status_code == 503 and "circuit breaker" in refused.json()["detail"]
        assert int(refused.headers["Retry-After"]) > 0 and len(fake.chat_requests) == calls
        ready = c.get("/readyz")
        assert ready.status_code == 503 and "circuit open" in ready.json()["reason"]


def test_the_breaker_closes_again_after_its_cooldown():
    from ragmeter.metrics.judgements import JudgeError
    from ragmeter.metrics.judges.breaker import CircuitBreaker

    now = [0.0]
    breaker = CircuitBreaker(failures=2, cooldown_s=10, clock=lambda: now[0])
    for _ in range(2):
        breaker.failed(JudgeError("verify", "timeout", "slow"))
    with pytest.raises(JudgeError, match="circuit_open"):
        breaker.check("verify")
    breaker.failed(JudgeError("verify", "invalid_output", "bad json"))  # a bad reply is not an outage
    now[0] = 10.5
    breaker.check("verify")  # half-open: one call may try
    breaker.succeeded()
    assert breaker.open_for() == 0
