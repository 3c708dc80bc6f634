"""The row browser API: GET /v1/batches/{id}/rows (filters, paging) and /rows/{row}, per tenant, 4xx on bad input."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import ContradictingJudge, as_file, wait_done

KEYS = {"alpha": "key-alpha-0123456789", "beta": "key-beta-0123456789"}
ALPHA, BETA = ({"X-API-Key": KEYS[name]} for name in ("alpha", "beta"))


def records(n: int = 12) -> list[dict]:
    """Row i is contradicted (i % 3 == 0), unsupported (1) or supported (2); metadata topic, n and vip."""
    answers = ("Fact {} is false.", "Fact {} is blue.", "Fact {} is true.")
    return [{"id": f"r{i}", "question": f"Question {i}?", "contexts": [f"Other text {i}.", f"Fact {i} is true."],
             "answer": answers[i % 3].format(i),
             "metadata": {"topic": ("billing", "auth")[i % 2], "n": i, "vip": i < 4}} for i in range(n)]


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, job_store):
    """The filters run in SQL: the same tests on SQLite and on PostgreSQL."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else job_store


@pytest.fixture
def served(db_url):
    """A client in open mode and a finished batch of `records()`."""
    with TestClient(create_app(Settings(db=db_url), judge=ContradictingJudge())) as client:
        batch = client.post("/v1/batches", files={"file": ("set.jsonl", as_file(records(), "jsonl"))}).json()
        wait_done(client, batch["id"])
        yield client, batch["id"]


@pytest.fixture
def on_sqlite(job_store):
    """As `served`, on SQLite only: for what is checked before any query runs."""
    with TestClient(create_app(Settings(db=job_store), judge=ContradictingJudge())) as client:
        batch = client.post("/v1/batches", files={"file": ("set.jsonl", as_file(records(3), "jsonl"))}).json()
        wait_done(client, batch["id"])
        yield client, batch["id"]


def listed(client, batch_id: str, **params) -> dict:
    response = client.get(f"/v1/batches/{batch_id}/rows", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def numbers(page: dict) -> list[int]:
    return [r["row"] for r in page["rows"]]


def test_filters_by_gate_score_and_metadata_in_the_database(served):
    client, batch_id = served
    failed = listed(client, batch_id, gate="fail")
    assert failed["total"] == 8 and numbers(failed) == [1, 2, 4, 5, 7, 8, 10, 11]
    assert numbers(listed(client, batch_id, gate="pass")) == [3, 6, 9, 12]
    assert numbers(listed(client, batch_id, score="faithfulness<0.5")) == [1, 2, 4, 5, 7, 8, 10, 11]
    assert numbers(listed(client, batch_id, score="faithfulness>=0.5")) == [3, 6, 9, 12]
    # Every condition applies: failed rows of topic auth, and values that are numbers or true/false, written as text.
    assert numbers(listed(client, batch_id, gate="fail", metadata="topic=auth")) == [2, 4, 8, 10]
    assert numbers(listed(client, batch_id, metadata=["n=7"])) == [8]
    assert numbers(listed(client, batch_id, metadata=["vip=true", "topic=billing"])) == [1, 3]
    assert numbers(listed(client, batch_id, score=["faithfulness>0.5", "answer_relevancy=1"],
                          metadata="topic=auth")) == [6, 12]
    assert listed(client, batch_id, metadata="topic=nothing") == {"total": 0, "offset": 0, "limit": 25,
                                                                 "next_offset": None, "rows": []}


def test_a_listed_row_has_previews_scores_gate_and_metadata(served):
    client, batch_id = served
    first = listed(client, batch_id, limit=1)["rows"][0]
    assert first == {"row": 1, "id": "r0", "status": "scored", "user_input": "Question 0?",
                     "response": "Fact 0 is false.", "scores": first["scores"], "gate_passed": False,
                     "hallucination_score": 1.0, "error": None, "metadata": {"topic": "billing", "n": 0, "vip": True}}
    assert first["scores"]["faithfulness"] == 0.0 and "retrieved_contexts" not in first
    best = listed(client, batch_id, sort="-faithfulness", limit=2)
    assert numbers(best) == [3, 6] and best["total"] == 12


def test_pages_cover_the_matching_rows_once(served):
    client, batch_id = served
    seen, offset, pages = [], 0, 0
    while offset is not None:
        page = listed(client, batch_id, gate="fail", offset=offset, limit=3)
        assert page["total"] == 8 and page["limit"] == 3
        seen += numbers(page)
        offset, pages = page["next_offset"], pages + 1
    assert seen == [1, 2, 4, 5, 7, 8, 10, 11] and pages == 3
    assert listed(client, batch_id, offset=50)["rows"] == []


def test_a_row_whole_has_its_contexts_and_each_claims_verdict_and_evidence(served):
    client, batch_id = served
    row = client.get(f"/v1/batches/{batch_id}/rows/1").json()
    assert row["row"] == 1 and row["status"] == "scored"
    assert row["sample"]["user_input"] == "Question 0?"
    assert row["sample"]["retrieved_contexts"] == ["Other text 0.", "Fact 0 is true."]
    [claim] = row["result"]["details"]["faithfulness"]["claims"]
    assert (claim["claim"], claim["verdict"], claim["evidence"], claim["context_index"]) == \
        ("Fact 0 is false.", "contradicted", "Fact 0 is true.", 1)
    assert client.get(f"/v1/batches/{batch_id}/rows/2").json()["result"]["details"]["faithfulness"]["claims"][0][
        "verdict"] == "unsupported"
    missing = client.get(f"/v1/batches/{batch_id}/rows/13")
    assert missing.status_code == 404 and "no row 13" in missing.json()["detail"]


@pytest.mark.parametrize(("params", "field", "says"), [
    ({"score": "faithfulness"}, "score", "METRIC OP VALUE"),
    ({"score": "faithfulness<<0.5"}, "score", "is not a number"),
    ({"score": "loyalty<0.5"}, "score", "unknown metric 'loyalty'"),
    ({"score": "faithfulness<1.5"}, "score", "between 0 and 1"),
    ({"score": "faithfulness<nan"}, "score", "between 0 and 1"),
    ({"score": ["faithfulness<0.5"] * 21}, "score", "at most 20"),
    ({"metadata": "topic"}, "metadata", "KEY=VALUE"),
    ({"metadata": "=billing"}, "metadata", "KEY=VALUE"),
    ({"metadata": 'to"pic=x'}, "metadata", "without"),
    ({"gate": "maybe"}, "gate", "'pass' or 'fail'"),
    ({"status": "done"}, "status", "'pending', 'scored' or 'error'"),
    ({"sort": "loyalty"}, "sort", "should match pattern"),
    ({"limit": 0}, "limit", "greater than or equal to 1"),
    ({"limit": 101}, "limit", "less than or equal to 100"),
    ({"offset": -1}, "offset", "greater than or equal to 0"),
    ({"offset": "x"}, "offset", "valid integer"),
])
def test_bad_parameters_are_a_422_naming_the_parameter(on_sqlite, params, field, says):
    client, batch_id = on_sqlite
    response = client.get(f"/v1/batches/{batch_id}/rows", params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", field] and says in error["msg"], error


def test_a_bad_row_number_is_a_422_and_a_missing_batch_a_404(on_sqlite):
    client, batch_id = on_sqlite
    assert client.get(f"/v1/batches/{batch_id}/rows/0").status_code == 422
    assert client.get(f"/v1/batches/{batch_id}/rows/first").status_code == 422
    assert client.get("/v1/batches/nope/rows").status_code == 404
    assert client.get("/v1/batches/nope/rows/1").status_code == 404


def test_another_tenants_rows_are_as_absent_as_a_missing_batch(job_store):
    with TestClient(create_app(Settings(api_keys=KEYS), judge=ContradictingJudge())) as client:
        batch = client.post("/v1/batches", files={"file": ("a.jsonl", as_file(records(3), "jsonl"))},
                            headers=ALPHA).json()
        wait_done(_Keyed(client, ALPHA), batch["id"])
        rows, row = f"/v1/batches/{batch['id']}/rows", f"/v1/batches/{batch['id']}/rows/1"
        assert client.get(rows, headers=ALPHA).json()["total"] == 3
        assert client.get(row, headers=ALPHA).status_code == 200
        for path in (rows, row, rows + "?gate=fail"):
            assert client.get(path, headers=BETA).status_code == 404
            assert client.get(path).status_code == 401
        assert client.get(rows, params={"api_key": KEYS["alpha"]}).status_code == 200  # as the web page calls it


class _Keyed:
    def __init__(self, client, headers):
        self.client, self.headers = client, headers

    def get(self, url, **kwargs):
        return self.client.get(url, headers=self.headers, **kwargs)
