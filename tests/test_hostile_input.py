"""Input that used to crash the service answers 4xx with a message; downloads are safe to open."""
from __future__ import annotations

import io

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, upload, wait_done

SAMPLE = '{"question": "Q?", "contexts": ["C."], "answer": "A."}'


@pytest.fixture
def client():
    with TestClient(create_app(Settings(), judge=StubJudge()), raise_server_exceptions=False) as c:
        yield c


def post_raw(client, body: str):
    return client.post("/v1/evaluate", content=body.encode("utf-8", "surrogatepass"),
                       headers={"content-type": "application/json"})


@pytest.mark.parametrize("body", [
    '{"samples": [' + SAMPLE + '], "gate": {"threshold": NaN}}',
    '{"samples": [' + SAMPLE + '], "gate": {"threshold": -Infinity}}',
    '{"samples": [' + SAMPLE + '], "gate": {"min_scores": {"faithfulness": false}}}',
    '{"samples": [' + SAMPLE + '], "gate": {"min_scores": {"faithfulness": 1.5}}}',
    '{"samples": [' + SAMPLE + '], "gate": {"treshold": 0.2}}',
    '{"samples": [' + SAMPLE + '], "metrics": []}',
    '{"samples": [{"question": "Q?", "contexts": ["C."], "answer": "A\\ud800"}]}',
    '{"samples": [{"id": "\\udfff", "question": "Q?", "contexts": ["C."], "answer": "A."}]}',
])
def test_invalid_requests_get_a_422_that_renders(client, body):
    response = post_raw(client, body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][0] == "body"


@pytest.mark.parametrize(("form", "says"), [
    ({"mapping": "true"}, "JSON object"),
    ({"mapping": "[1, 2]"}, "JSON object"),
    ({"mapping": '{"question": 5}'}, "column names"),
    ({"gate": '{"threshold": "high"}'}, "gate"),
    ({"metrics": ",,,"}, "no metric"),
])
def test_bad_upload_form_fields_are_named(client, form, says):
    response = upload(client, as_file([{"question": "Q?", "contexts": ["C."], "answer": "A."}], "jsonl"), "s.jsonl",
                      **form)
    assert response.status_code == 422 and says in response.text


def test_deeply_nested_json_and_oversized_rows_are_refused_with_their_row(client):
    deep = upload(client, b"[" * 100_000 + b"]" * 100_000, "deep.json")
    assert deep.status_code == 400 and "nested too deeply" in deep.text
    rows = [{"question": "Q?", "contexts": ["C."] * 101, "answer": "A."},
            {"question": "Q?", "contexts": ["x" * 50_001], "answer": "A."}]
    big = upload(client, as_file(rows, "jsonl"), "big.jsonl")
    problems = big.json()["detail"]["problems"]
    assert big.status_code == 400
    assert [(p["row"], p["field"]) for p in problems] == [(1, "retrieved_contexts"), (2, "retrieved_contexts.0")]


def test_downloads_neutralise_formulas_and_survive_odd_names_and_mixed_ids(client):
    rows = [{"id": 1, "question": "=cmd|' /C calc'!A0", "contexts": ["C."], "answer": "=HYPERLINK(\"x\")"},
            {"id": "b", "question": "Q?", "contexts": ["C."], "answer": "A."},
            {"id": 10**30, "question": "Q?", "contexts": ["C."], "answer": "@SUM(1)"}]
    batch = upload(client, as_file(rows, "jsonl"), "données é.jsonl").json()
    assert wait_done(client, batch["id"])["status"] == "done"
    csv = client.get(f"/v1/batches/{batch['id']}/results?format=csv")
    assert "filename*=UTF-8''donn%C3%A9es" in csv.headers["content-disposition"]
    frame = pd.read_csv(io.BytesIO(csv.content), dtype=str)
    assert list(frame["user_input"])[0].startswith("'=") and list(frame["response"])[2] == "'@SUM(1)"
    parquet = client.get(f"/v1/batches/{batch['id']}/results?format=parquet")
    assert parquet.status_code == 200
    assert list(pd.read_parquet(io.BytesIO(parquet.content))["id"]) == ["1", "b", str(10**30)]


def test_every_response_carries_a_request_id_and_security_headers(client):
    response = client.get("/healthz", headers={"X-Request-ID": "abc"})
    assert response.headers["X-Request-ID"] == "abc"
    assert response.headers["X-Frame-Options"] == "DENY" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in client.get("/").headers["Content-Security-Policy"]


def test_a_host_allow_list_refuses_foreign_hosts():
    with TestClient(create_app(Settings(allowed_hosts=["ragmeter.internal"]), judge=StubJudge()),
                    base_url="http://ragmeter.internal") as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/healthz", headers={"host": "evil.example"}).status_code == 400


def test_prometheus_metrics_count_requests_judge_cost_and_gate_verdicts(client):
    assert client.post("/v1/evaluate", json={"samples": [{"question": "Q?", "contexts": ["C."],
                                                          "answer": "Made up."}]}).status_code == 200
    client.get("/v1/batches/no-such-batch")
    text = client.get("/metrics").text
    assert 'ragmeter_http_requests_total{method="POST",route="/v1/evaluate",status="200"} 1.0' in text
    assert 'route="/v1/batches/{batch_id}",status="404"' in text  # the route template, not the id
    assert 'ragmeter_gate_verdicts_total{verdict="fail"} 1.0' in text
    assert 'ragmeter_samples_scored_total{source="evaluate"} 1.0' in text


def test_logs_are_json_lines_with_the_request_id():
    import json
    import logging

    from ragmeter.service.logs import JsonFormatter, request_id

    token = request_id.set("r-7")
    try:
        record = logging.LogRecord("ragmeter.api", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert entry["message"] == "boom x" and entry["request_id"] == "r-7" and entry["level"] == "ERROR"


def test_an_upload_over_the_limit_is_refused_before_it_is_read():
    with TestClient(create_app(Settings(max_upload_mb=1), judge=StubJudge())) as c:
        declared = c.post("/v1/batches", content=b"x", headers={"content-length": str(50 * 1024 * 1024),
                                                                 "content-type": "multipart/form-data; boundary=b"})
        assert declared.status_code == 413
        big = upload(c, b"question,contexts,answer\n" + b"q,c,a\n" * 200_000, "big.csv")
        assert big.status_code == 413 and "RAGMETER_MAX_UPLOAD_MB=1" in big.text


@pytest.mark.parametrize("given", ["../../../../etc/x.csv", "..\\..\\windows\\x.csv", "/abs/path/x.csv"])
def test_an_upload_file_name_is_kept_as_its_base_name_only(client, given):
    from .helpers import rows

    batch = client.post("/v1/batches", files={"file": (given, as_file(rows(2), "csv"))})
    assert batch.status_code == 202 and batch.json()["filename"] == "x.csv"
    wait_done(client, batch.json()["id"])
    assert client.get(f"/v1/batches/{batch.json()['id']}").json()["filename"] == "x.csv"
    assert [b["filename"] for b in client.get("/v1/batches").json()] == ["x.csv"]
    download = client.get(f"/v1/batches/{batch.json()['id']}/results?format=csv")
    disposition = download.headers["content-disposition"]
    assert 'filename="x.scored.csv"' in disposition and "filename*=UTF-8''x.scored.csv" in disposition
    assert ".." not in disposition and "/" not in disposition and "%2F" not in disposition


@pytest.mark.parametrize("content", [b"PAR1 not really parquet", b"PAR1" + b"\0" * 64 + b"PAR1", b""])
def test_an_unreadable_comparison_file_is_a_400_without_any_server_path(client, content):
    import tempfile

    response = client.post("/v1/comparisons", files={"baseline_file": ("../secret/a.parquet", content),
                                                     "candidate_file": ("b.parquet", content)})
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert detail.startswith("a.parquet") or "'a.parquet'" in detail
    assert tempfile.gettempdir() not in detail and "tmp" not in detail and "secret" not in detail
