"""Batch scoring by upload: formats, validation, durable jobs that survive a restart."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.store import Store
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, rows, upload, wait_done


@pytest.fixture
def client():
    with TestClient(create_app(Settings(), judge=StubJudge())) as c:
        yield c


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json", "parquet"])
def test_every_format_round_trips(client, fmt):
    response = upload(client, as_file(rows(7), fmt), f"set.{fmt}", metrics="faithfulness")
    assert response.status_code == 202, response.text
    batch = response.json()
    assert response.headers["location"] == f"/v1/batches/{batch['id']}"
    status = wait_done(client, batch["id"])
    assert (status["status"], status["done"], status["total"], status["errors"]) == ("done", 7, 7, 0)

    for out in ("jsonl", "csv", "parquet"):
        body = client.get(f"/v1/batches/{batch['id']}/results", params={"format": out}).content
        if out == "jsonl":
            got = pd.DataFrame([json.loads(line) for line in body.decode().splitlines()])
        elif out == "csv":
            got = pd.read_csv(io.BytesIO(body))
        else:
            got = pd.read_parquet(io.BytesIO(body))
        assert list(got["id"]) == [f"r{i}" for i in range(7)]
        assert list(got["faithfulness"]) == [0.0 if i % 3 == 0 else 1.0 for i in range(7)]
        assert list(got["gate_passed"]) == [i % 3 != 0 for i in range(7)]
        assert set(got["status"]) == {"scored"}

    summary = client.get(f"/v1/batches/{batch['id']}/summary").json()
    faith = summary["metrics"]["faithfulness"]
    assert faith["n"] == 7 and faith["mean"] == pytest.approx(4 / 7, abs=1e-4)
    assert faith["ci95"][0] <= faith["mean"] <= faith["ci95"][1]
    assert summary["gate_pass_rate"] == pytest.approx(4 / 7, abs=1e-4)
    assert summary["errors"] == 0


def test_csv_contexts_can_be_split_by_a_separator_and_columns_mapped(client):
    csv = "q,ctx,a\nWhat?,First fact.||Fact 1 is true.,Fact 1 is true.\n"
    response = upload(client, csv.encode(), "set.csv", separator="||",
                      mapping=json.dumps({"question": "q", "contexts": "ctx", "answer": "a"}))
    assert response.status_code == 202, response.text
    wait_done(client, response.json()["id"])
    record = json.loads(client.get(f"/v1/batches/{response.json()['id']}/results").text.splitlines()[0])
    assert record["retrieved_contexts"] == ["First fact.", "Fact 1 is true."]
    assert record["faithfulness"] == 1.0


@pytest.mark.parametrize(("content", "name", "expected"), [
    (b"question,answer\nq,a\n", "bad.csv", {"field": "retrieved_contexts"}),
    ('question,contexts,answer\nq,"[""c""]",caf\xe9\n'.encode("latin-1"), "bad.csv", {"line": 2}),
    (b'{"question": "q", "contexts": ["c"], "answer": "a"}\n{"question": \n', "bad.jsonl", {"line": 2}),
    (b'{"question": "q"}', "bad.json", {}),
    (b"PAR1 this is not parquet", "bad.parquet", {}),
    (b'{"question": "q", "contexts": ["c"], "answer": "a"}\n{"question": "q", "contexts": ["c"], "answer": " "}\n',
     "empty.jsonl", {"row": 2, "field": "answer"}),
    (b"a,b\n1,2\n", "data.xlsx", {}),
])
def test_a_bad_file_is_refused_whole_with_where_the_problem_is(client, content, name, expected):
    response = upload(client, content, name)
    assert response.status_code == 400, response.text
    problem = response.json()["detail"]["problems"][0]
    for key, value in expected.items():
        assert problem[key] == value, problem
    assert client.get("/v1/batches").json() == []


def test_a_batch_can_be_cancelled():
    judge = StubJudge(hang_after=2)
    with TestClient(create_app(Settings(batch_concurrency=1), judge=judge)) as c:
        batch = upload(c, as_file(rows(10), "jsonl"), "set.jsonl", metrics="faithfulness").json()
        assert judge.hanging.wait(10)
        status = c.delete(f"/v1/batches/{batch['id']}").json()
        assert status["status"] == "cancelled" and status["done"] == 2
        assert "8 rows were not scored" in status["message"]
        # Read back from SQLite, the creation time still says it is UTC.
        assert c.get(f"/v1/batches/{batch['id']}").json()["created_at"].endswith("+00:00")


def test_a_restart_mid_batch_resumes_and_scores_every_row_exactly_once(job_store):
    first = StubJudge(hang_after=12)
    with TestClient(create_app(Settings(batch_concurrency=4), judge=first)) as c:
        batch = upload(c, as_file(rows(40), "jsonl"), "set.jsonl", metrics="faithfulness").json()
        assert first.hanging.wait(10)
    # The process is gone with rows in flight; the job is still "running" in the store.
    store = Store(job_store)
    interrupted = {"status": store.job(batch["id"]).status, "done": store.counts(batch["id"]).get("scored", 0)}
    store.close()
    assert interrupted["status"] == "running" and 0 < interrupted["done"] < 40

    second = StubJudge()
    with TestClient(create_app(Settings(batch_concurrency=4), judge=second)) as c:
        status = wait_done(c, batch["id"])
        lines = c.get(f"/v1/batches/{batch['id']}/results").text.splitlines()
    assert (status["status"], status["done"], status["errors"]) == ("done", 40, 0)
    assert [json.loads(line)["id"] for line in lines] == [f"r{i}" for i in range(40)]
    finished_first = {k for k, n in first.calls.items()} - set(second.calls)
    assert len(finished_first) == interrupted["done"]
    # Rows finished before the restart were not scored again; every other row was scored once after it.
    assert not (finished_first & set(second.calls))
    assert all(n == 1 for n in second.calls.values())
    assert len(second.calls) == 40 - interrupted["done"]


def test_the_report_escapes_what_users_uploaded():
    from ragmeter.service.server.batches.report import highlight

    html = highlight("<script>alert(1)</script> The sky is green.", ["The sky is green."])
    assert "<script>" not in html
    assert html.endswith('<mark class="unsupported">The sky is green.</mark>')


def test_after_a_cancel_the_message_agrees_with_the_counts_when_rows_in_flight_finish(job_store):
    from ragmeter.metrics import SampleResult

    judge = StubJudge(hang_after=2)
    with TestClient(create_app(Settings(batch_concurrency=4), judge=judge)) as c:
        batch = upload(c, as_file(rows(6), "jsonl"), "set.jsonl", metrics="faithfulness").json()
        assert judge.hanging.wait(10)
        cancelled = c.delete(f"/v1/batches/{batch['id']}").json()
        pending = cancelled["total"] - cancelled["done"]
        assert f"{pending} rows were not scored" in cancelled["message"]
        # Rows that were being scored at the cancel finish afterwards (another replica, a Ray worker): written.
        store = Store(job_store)
        stored = store.rows(batch["id"])
        result = SampleResult.model_validate(next(r.result for r in stored if r.result is not None))
        for row in stored:
            if row.status == "pending":
                store.finish_row(batch["id"], row.index, result)
        store.close()
        after = c.get(f"/v1/batches/{batch['id']}").json()
        assert after["status"] == "cancelled" and after["done"] == after["total"] == 6
        assert after["message"] == "cancelled; every row had been scored or finished scoring"
