"""The id rule: kept as given, compared as text; colliding ids refused; downloads never alter ids; comparisons pair
only unique ids and say so."""
from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, rows, upload, wait_done


@pytest.fixture
def client():
    with TestClient(create_app(Settings(), judge=StubJudge())) as c:
        yield c


def _with_ids(ids: list) -> list[dict]:
    return [{**r, "id": i} for r, i in zip(rows(len(ids)), ids, strict=True)]


def _done(client, records: list[dict], fmt: str = "jsonl") -> str:
    response = upload(client, as_file(records, fmt), f"set.{fmt}", metrics="faithfulness")
    assert response.status_code == 202, response.text
    assert wait_done(client, response.json()["id"])["status"] == "done"
    return response.json()["id"]


def test_a_number_and_the_same_text_as_ids_are_refused_naming_the_row(client):
    response = upload(client, as_file(_with_ids([1, 7, "x", "7"]), "jsonl"), "set.jsonl")
    assert response.status_code == 400, response.text
    (problem,) = response.json()["detail"]["problems"]
    assert problem["row"] == 4 and problem["field"] == "id" and "row 2" in problem["message"]


@pytest.mark.parametrize("bad", ["=cmd|' /C calc'!A0", "@SUM(1)", " =1+1", "-x"])
def test_an_id_that_would_run_as_a_formula_is_refused(client, bad):
    response = upload(client, as_file(_with_ids(["ok", bad]), "jsonl"), "set.jsonl")
    assert response.status_code == 400
    assert "formula" in response.json()["detail"]["problems"][0]["message"]


def test_downloads_never_alter_ids_and_a_csv_round_trip_keeps_them(client):
    ids = [-1, 7, 12345678901234567890, 0]
    batch = _done(client, _with_ids(ids))
    jsonl = [json.loads(line) for line in client.get(f"/v1/batches/{batch}/results").text.splitlines()]
    assert [r["id"] for r in jsonl] == ids  # numbers stay numbers where the format has them
    csv = client.get(f"/v1/batches/{batch}/results", params={"format": "csv"}).content
    assert pd.read_csv(io.BytesIO(csv), dtype=str)["id"].tolist() == ["-1", "7", "12345678901234567890", "0"]
    parquet = client.get(f"/v1/batches/{batch}/results", params={"format": "parquet"}).content
    assert pd.read_parquet(io.BytesIO(parquet))["id"].tolist() == ["-1", "7", "12345678901234567890", "0"]

    text_ids = ["-1", "007", "+44", "NA"]
    again = client.post("/v1/batches", files={"file": ("again.csv", as_file(_with_ids(text_ids), "csv"))},
                        data={"metrics": "faithfulness"}).json()["id"]
    wait_done(client, again)
    csv = client.get(f"/v1/batches/{again}/results", params={"format": "csv"}).content
    assert b"'-1" not in csv and b"'+44" not in csv
    assert pd.read_csv(io.BytesIO(csv), dtype=str, keep_default_na=False)["id"].tolist() == text_ids
    third = client.post("/v1/batches", files={"file": ("scored.csv", csv)}, data={"metrics": "faithfulness"})
    assert third.status_code == 202, third.text
    wait_done(client, third.json()["id"])
    records = [json.loads(line) for line in client.get(f"/v1/batches/{third.json()['id']}/results").text.splitlines()]
    assert [r["id"] for r in records] == text_ids


def test_a_job_compared_with_itself_pairs_every_row_even_with_repeated_ids(client):
    batch = _done(client, _with_ids(["a", "a", "b", 7, 8, "c", "d", "e", "f", "g"]))
    comparison = client.post("/v1/comparisons", json={"baseline": batch, "candidate": batch}).json()
    assert comparison["rows"]["paired"] == 10 and comparison["rows"]["duplicate_ids"] == 0
    assert [n["code"] for n in comparison["notes"]] == ["paired_in_order"]


def test_its_jsonl_and_csv_downloads_pair_up_too(client):
    batch = _done(client, _with_ids([-1, 2, 3, 4]))
    files = {"baseline_file": ("a.scored.jsonl", client.get(f"/v1/batches/{batch}/results").content),
             "candidate_file": ("b.scored.csv",
                                client.get(f"/v1/batches/{batch}/results", params={"format": "csv"}).content)}
    comparison = client.post("/v1/comparisons", files=files)
    assert comparison.status_code == 200, comparison.text
    assert comparison.json()["rows"]["paired"] == 4


def test_repeated_ids_are_not_paired_and_the_comparison_says_so(client):
    baseline = _done(client, _with_ids(["a", "a", "b", "c"]))
    candidate = _done(client, _with_ids(["c", "b", "a", "d"]))
    comparison = client.post("/v1/comparisons", json={"baseline": baseline, "candidate": candidate}).json()
    assert comparison["rows"] | {"paired": comparison["rows"]["paired"]} == {
        "baseline": 4, "candidate": 4, "paired": 2, "only_baseline": 0, "only_candidate": 1, "duplicate_ids": 3}
    (note,) = comparison["notes"]
    assert note["code"] == "duplicate_ids" and note["ids"] == ["a"] and "not paired" in note["message"]
