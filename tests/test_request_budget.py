"""Bounded work per request: the sample budget before scoring, column counts before parsing, and a client that
leaves /v1/evaluate cancels its scoring."""
from __future__ import annotations

import asyncio
import io
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ragmeter.metrics.judgements import Decomposition
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import SAMPLE, StubJudge, as_file, rows, upload


def _sample(contexts: int, chars: int) -> dict:
    return {**SAMPLE, "retrieved_contexts": ["x" * chars] * contexts}


@pytest.fixture
def client():
    with TestClient(create_app(Settings(max_sample_chars=10_000), judge=StubJudge())) as c:
        yield c


def test_evaluate_refuses_a_sample_over_the_budget_before_scoring_naming_the_limit():
    judge = StubJudge()
    with TestClient(create_app(Settings(max_sample_chars=10_000), judge=judge)) as c:
        # Every context is within RAGMETER_MAX_CONTEXT_CHARS; together they are over the sample budget.
        response = c.post("/v1/evaluate", json={"samples": [SAMPLE, _sample(5, 3_000)]})
        assert response.status_code == 422, response.text
        (problem,) = response.json()["detail"]
        assert problem["loc"] == ["body", "samples", 1]
        assert "RAGMETER_MAX_SAMPLE_CHARS=10000" in problem["msg"] and "5 contexts" in problem["msg"]
        assert not judge.calls  # nothing was scored, not even the sample within the budget
        assert c.post("/v1/evaluate", json={"samples": [_sample(3, 3_000)]}).status_code == 200


def test_the_judges_own_cap_applies_when_smaller():
    judge = StubJudge()
    judge.max_sample_chars = 5_000
    with TestClient(create_app(Settings(max_sample_chars=10_000), judge=judge)) as c:
        response = c.post("/v1/evaluate", json={"samples": [_sample(2, 3_000)]})
        assert response.status_code == 422
        assert "the stub judge's own cap of 5000" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_an_upload_row_over_the_budget_is_refused_with_its_row(client, fmt):
    records = rows(3)
    records[1]["contexts"] = ["y" * 4_000] * 3
    response = upload(client, as_file(records, fmt), f"set.{fmt}")
    assert response.status_code == 400, response.text
    (problem,) = response.json()["detail"]["problems"]
    assert problem["row"] == 2 and "RAGMETER_MAX_SAMPLE_CHARS=10000" in problem["message"]
    assert client.get("/v1/batches").json() == []


def _wide(fmt: str, columns: int) -> bytes:
    record = {"question": "q?", "contexts": json.dumps(["c"]), "answer": "a"}
    record |= {f"extra{i}": "v" for i in range(columns)}
    if fmt == "csv":
        return pd.DataFrame([record]).to_csv(index=False).encode()
    if fmt == "jsonl":
        return (json.dumps(record) + "\n").encode()
    buffer = io.BytesIO()
    pd.DataFrame([record]).to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_too_many_columns_are_refused_before_the_rows_are_read(fmt):
    with TestClient(create_app(Settings(max_columns=50), judge=StubJudge())) as c:
        response = upload(c, _wide(fmt, 60), f"wide.{fmt}")
        assert response.status_code == 400, response.text
        message = response.json()["detail"]["problems"][0]["message"]
        assert "63" in message and "RAGMETER_MAX_COLUMNS=50" in message
        assert upload(c, _wide(fmt, 40), f"narrow.{fmt}").status_code == 202


def test_a_jsonl_upload_whose_rows_each_bring_new_keys_is_refused():
    lines = [{"question": "q?", "contexts": ["c"], "answer": "a", f"k{i}": 1} for i in range(60)]
    with TestClient(create_app(Settings(max_columns=50), judge=StubJudge())) as c:
        response = upload(c, as_file(lines, "jsonl"), "keys.jsonl")
        assert response.status_code == 400
        assert "distinct record keys" in response.json()["detail"]["problems"][0]["message"]


class _HangingJudge(StubJudge):
    """Blocks in decompose until cancelled, and says when it started and when it was cancelled."""

    def __init__(self):
        super().__init__()
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def decompose(self, sample, need, usage) -> Decomposition:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        raise AssertionError("unreachable")


async def test_a_client_disconnect_cancels_the_scoring_of_its_request():
    judge = _HangingJudge()
    app = create_app(Settings(), judge=judge)
    body = json.dumps({"samples": [SAMPLE]}).encode()
    left = asyncio.Event()
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict] = []

    async def receive() -> dict:
        if messages:
            return messages.pop(0)
        await left.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/v1/evaluate", "raw_path": b"/v1/evaluate", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"test"), (b"content-type", b"application/json"),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 5000), "server": ("test", 80)}
    async with app.router.lifespan_context(app):
        request = asyncio.create_task(app(scope, receive, send))
        await asyncio.wait_for(judge.started.wait(), 10)
        left.set()  # the client goes away while its sample is being scored
        await asyncio.wait_for(judge.cancelled.wait(), 10)
        await asyncio.wait_for(request, 10)
    assert sent[0]["status"] == 499


@pytest.mark.parametrize(("body", "loc"), [
    ('{"samples": [{"question": "q", "contexts": ["c"], "answer": "a", "id": %s}]}', ["body", "samples", 0, "id"]),
    ('{"samples": [{"question": "q", "contexts": ["c"], "answer": "a", "metadata": {"k": %s}}]}',
     ["body", "samples", 0, "metadata", "k"]),
    ('{"samples": [{"question": "q", "contexts": ["c"], "answer": "a"}], "gate": {"threshold": %s}}',
     ["body", "gate", "threshold"]),
])
def test_evaluate_answers_a_4400_digit_integer_with_a_422_naming_the_field(client, body, loc):
    response = client.post("/v1/evaluate", content=body % ("9" * 4400), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    (problem,) = response.json()["detail"]
    assert problem["loc"] == loc and "4400 digits" in problem["msg"]
