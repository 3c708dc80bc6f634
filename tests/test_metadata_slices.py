"""Metadata travels with a sample (evaluate, uploads, downloads) and slices summaries and the report."""
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
    with TestClient(create_app(Settings(max_metadata_keys=3, max_metadata_chars=20), judge=StubJudge())) as c:
        yield c


def tagged(n: int) -> list[dict]:
    """Rows whose every third answer is false; `topic` is "a" for the first 24, "b" for the rest."""
    return [{**r, "topic": "a" if i < 24 else "b", "retriever": "bm25"} for i, r in enumerate(rows(n))]


def test_evaluate_echoes_metadata_and_refuses_what_is_not_a_scalar(client):
    sample = {"question": "Is fact 1 true?", "contexts": ["Fact 1 is true."], "answer": "Fact 1 is true.",
              "metadata": {"topic": "facts", "customer": "acme", "tier": 2}}
    ok = client.post("/v1/evaluate", json={"samples": [sample], "metrics": ["faithfulness"]})
    assert ok.status_code == 200, ok.text
    assert ok.json()["results"][0]["metadata"] == {"topic": "facts", "customer": "acme", "tier": 2}

    nested = client.post("/v1/evaluate", json={"samples": [{**sample, "metadata": {"tags": ["x"]}}]})
    assert nested.status_code == 422
    assert nested.json()["detail"][0]["loc"][:4] == ["body", "samples", 0, "metadata"]
    assert "'tags' must be text, a number" in nested.json()["detail"][0]["msg"]


def test_evaluate_names_the_sample_and_key_past_the_metadata_limits(client):
    sample = {"question": "Q?", "contexts": ["C."], "answer": "C.",
              "metadata": {"note": "x" * 21, "a": 1, "b": 2, "c": 3}}
    response = client.post("/v1/evaluate", json={"samples": [sample, sample]})
    assert response.status_code == 422
    locs = {tuple(d["loc"]) for d in response.json()["detail"]}
    assert ("body", "samples", 1, "metadata") in locs  # 4 keys > 3
    assert ("body", "samples", 0, "metadata", "note") in locs  # 21 characters > 20
    assert any("RAGMETER_MAX_METADATA_CHARS=20" in d["msg"] for d in response.json()["detail"])


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_extra_upload_columns_are_kept_with_the_row_and_downloaded(client, fmt):
    batch = upload(client, as_file(tagged(4), fmt), f"set.{fmt}", metrics="faithfulness").json()
    wait_done(client, batch["id"])
    body = client.get(f"/v1/batches/{batch['id']}/results", params={"format": fmt}).content
    if fmt == "jsonl":
        got = [json.loads(line)["metadata"] for line in body.decode().splitlines()]
    else:
        frame = pd.read_csv(io.BytesIO(body)) if fmt == "csv" else pd.read_parquet(io.BytesIO(body))
        got = [json.loads(cell) for cell in frame["metadata"]]
    assert got == [{"topic": "a", "retriever": "bm25"}] * 4


def test_an_upload_past_the_metadata_limits_is_refused_with_row_and_key(client):
    records = tagged(3)
    records[1]["topic"] = "t" * 50
    response = upload(client, as_file(records, "jsonl"), "set.jsonl")
    assert response.status_code == 400
    problem = response.json()["detail"]["problems"][0]
    assert (problem["row"], problem["field"]) == (2, "metadata.topic")
    assert "RAGMETER_MAX_METADATA_CHARS" in problem["message"]


def test_summary_by_a_key_gives_each_slice_its_mean_interval_and_a_small_slice_flag(client):
    batch = upload(client, as_file(tagged(30), "jsonl"), "set.jsonl", metrics="faithfulness").json()
    wait_done(client, batch["id"])
    summary = client.get(f"/v1/batches/{batch['id']}/summary", params={"by": "topic"}).json()
    slices = {tuple(s["key"].values()): s for s in summary["slices"]["slices"]}
    assert summary["slices"]["by"] == ["topic"] and set(slices) == {("a",), ("b",)}
    big, small = slices[("a",)], slices[("b",)]
    assert big["rows"] == 24 and not big["too_small"]
    assert big["metrics"]["faithfulness"]["mean"] == pytest.approx(16 / 24, abs=1e-4)
    low, high = big["metrics"]["faithfulness"]["ci95"]
    assert low < 16 / 24 < high
    assert small["rows"] == 6 and small["too_small"]

    both = client.get(f"/v1/batches/{batch['id']}/summary?by=topic&by=retriever").json()["slices"]
    assert both["by"] == ["topic", "retriever"]
    assert [s["key"] for s in both["slices"]] == [{"topic": "a", "retriever": "bm25"},
                                                  {"topic": "b", "retriever": "bm25"}]
    missing = client.get(f"/v1/batches/{batch['id']}/summary", params={"by": "customer"}).json()["slices"]
    assert [(s["key"], s["rows"]) for s in missing["slices"]] == [({"customer": "(none)"}, 30)]


def test_report_has_a_slice_table_that_flags_small_slices(client):
    batch = upload(client, as_file(tagged(30), "jsonl"), "set.jsonl", metrics="faithfulness").json()
    wait_done(client, batch["id"])
    page = client.get(f"/v1/batches/{batch['id']}/report").text
    assert '<table class="slices" data-by="topic">' in page  # retriever has one value: nothing to slice
    assert 'class="slice too-small" data-slice="topic=b"' in page
    assert 'class="slice" data-slice="topic=a"' in page
