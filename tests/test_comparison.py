"""Comparing two runs: pairing, verdicts, slices, the rows that moved; through the API, the CLI and the gate."""
from __future__ import annotations

import json

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from ragmeter.service.server.app import create_app
from ragmeter.service.cli import main
from ragmeter.service.analysis.comparison import RunRow, compare_runs, metric_change, pair
from ragmeter.service.rows import ScoredRow
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, finished_batch, upload, wait_done


def run_rows(answers: dict[str, bool], topic=lambda i: "a" if i < 30 else "b") -> list[dict]:
    """One row per id; the answer is supported by its context when answers[id] is True."""
    return [{"id": key, "question": f"Question {i}?", "contexts": [f"Fact {i} is true."],
             "answer": f"Fact {i} is {'true' if good else 'false'}.", "topic": topic(i)}
            for i, (key, good) in enumerate(answers.items())]


BASELINE = {f"r{i}": True for i in range(40)}
CANDIDATE = {**BASELINE, **{f"r{i}": False for i in range(30, 40)}}  # topic b turned unsupported


@pytest.fixture
def client():
    with TestClient(create_app(Settings(), judge=StubJudge())) as c:
        yield c


def batch(client, records: list[dict], name: str) -> str:
    response = upload(client, as_file(records, "jsonl"), name, metrics="faithfulness,context_precision")
    assert response.status_code == 202, response.text
    wait_done(client, response.json()["id"])
    return response.json()["id"]


def row(i: int, score: float | None, **fields) -> RunRow:
    return RunRow(ScoredRow(row=i + 1, faithfulness=score, **fields))


def test_rows_pair_by_id_then_question_and_contexts_then_question_alone():
    baseline = [row(0, 1.0, id="a"), row(1, 1.0, user_input="Q1", retrieved_contexts=["old"]),
                row(2, 1.0, user_input="Q2", retrieved_contexts=["c"]), row(3, 1.0, id="gone"), row(4, 1.0, id="a")]
    candidate = [row(0, 0.0, id="a"), row(1, 0.5, user_input="Q1", retrieved_contexts=["new retriever"]),
                 row(2, 1.0, user_input="Q2", retrieved_contexts=["c"]), row(3, 1.0, id="new")]
    pairing = pair(baseline, candidate)
    # "a" repeats in the baseline: neither of its rows nor the candidate's "a" is paired, and a note says so.
    assert len(pairing.pairs) == 2
    assert (pairing.only_baseline, pairing.only_candidate, pairing.duplicates) == (1, 1, 3)
    assert [(n.code, n.ids) for n in pairing.notes] == [("duplicate_ids", ["a"])]


def test_verdicts_need_the_interval_to_exclude_zero_and_the_minimum_effect():
    rng = np.random.default_rng(0)
    before = rng.uniform(0.5, 1.0, 200)
    assert metric_change("m", np.column_stack([before, before])).verdict == "no detectable change"
    assert metric_change("m", np.column_stack([before, before - 0.1])).verdict == "worse"
    assert metric_change("m", np.column_stack([before, before + 0.1])).verdict == "better"
    assert metric_change("m", np.column_stack([before, before - 0.1]), min_effect=0.2).verdict == \
        "no detectable change"
    noisy = np.clip(before + rng.normal(0, 0.1, 200), 0, 1)
    change = metric_change("m", np.column_stack([before, noisy]))
    assert change.ci95[0] <= change.difference <= change.ci95[1] and sum(change.histogram) == 200


def test_api_compares_two_batches_per_metric_and_slice_with_the_rows_behind_it(client):
    a = batch(client, run_rows(BASELINE), "before.jsonl")
    b = batch(client, run_rows(CANDIDATE) + [{"id": "extra", "question": "Q?", "contexts": ["C."], "answer": "C."}],
              "after.jsonl")
    response = client.post("/v1/comparisons", json={"baseline": a, "candidate": b, "by": ["topic"], "top": 3})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["rows"] == {"baseline": 40, "candidate": 41, "paired": 40, "only_baseline": 0,
                              "only_candidate": 1, "duplicate_ids": 0}
    faith = next(m for m in result["metrics"] if m["metric"] == "faithfulness")
    assert faith["verdict"] == "worse" and faith["difference"] == pytest.approx(-0.25)
    assert faith["ci95"][1] < 0 and faith["rows_worse"] == 10
    precision = next(m for m in result["metrics"] if m["metric"] == "context_precision")
    assert precision["verdict"] == "no detectable change"
    slices = {s["key"]["topic"]: {m["metric"]: m["verdict"] for m in s["metrics"]} for s in result["slices"]}
    assert slices == {"a": {"faithfulness": "no detectable change", "context_precision": "no detectable change"},
                      "b": {"faithfulness": "worse", "context_precision": "no detectable change"}}
    worst = result["top_changed"]["faithfulness"]["worse"]
    assert len(worst) == 3 and worst[0]["id"] == "r30" and worst[0]["difference"] == -1.0
    assert worst[0]["changes"] == ["became unsupported: Fact 30 is false.", "the answer changed"]
    assert "1 of 1 claims not supported" in worst[0]["candidate"]["why"]  # the judge's own explanation
    assert result["top_changed"]["faithfulness"]["better"] == []


def test_api_compares_two_uploaded_scored_files_with_the_same_numbers(client):
    a = batch(client, run_rows(BASELINE), "before.jsonl")
    b = batch(client, run_rows(CANDIDATE), "after.jsonl")
    by_ids = client.post("/v1/comparisons", json={"baseline": a, "candidate": b, "by": ["topic"]}).json()
    files = {"baseline_file": ("a.csv", client.get(f"/v1/batches/{a}/results?format=csv").content),
             "candidate_file": ("b.parquet", client.get(f"/v1/batches/{b}/results?format=parquet").content)}
    by_files = client.post("/v1/comparisons", files=files, data={"by": "topic"})
    assert by_files.status_code == 200, by_files.text
    assert by_files.json()["metrics"] == by_ids["metrics"]
    assert by_files.json()["slices"] == by_ids["slices"]

    page = client.post("/v1/comparisons?format=html", files=files).text
    assert page.startswith("<!doctype html>") and 'data-metric="faithfulness"' in page


def test_api_refuses_unknown_batches_and_unreadable_files(client):
    a = batch(client, run_rows(BASELINE), "before.jsonl")
    missing = client.post("/v1/comparisons", json={"baseline": a, "candidate": "nope"})
    assert missing.status_code == 404 and "no batch nope" in missing.text
    bad = client.post("/v1/comparisons", files={"baseline_file": ("a.txt", b"x"), "candidate_file": ("b.jsonl", b"{")})
    assert bad.status_code == 400 and "a.txt" in bad.json()["detail"]
    one = client.post("/v1/comparisons", files={"baseline_file": ("a.jsonl", b"")})
    assert one.status_code == 422 and "candidate_file is missing" in one.json()["detail"]
    broken = client.post("/v1/comparisons", content=b"xx\xff", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["detail"][0]["loc"][0] == "body"


def test_cli_compare_prints_the_same_numbers_and_writes_json_and_html(client, tmp_path, capsys):
    a = batch(client, run_rows(BASELINE), "before.jsonl")
    b = batch(client, run_rows(CANDIDATE), "after.jsonl")
    api = client.post("/v1/comparisons", json={"baseline": a, "candidate": b, "by": ["topic"]}).json()
    (tmp_path / "a.jsonl").write_bytes(client.get(f"/v1/batches/{a}/results").content)
    (tmp_path / "b.jsonl").write_bytes(client.get(f"/v1/batches/{b}/results").content)

    code = main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--by", "topic", "--json",
                 "--html", str(tmp_path / "c.html")])
    assert code == 0
    cli = json.loads(capsys.readouterr().out)
    assert cli["metrics"] == api["metrics"] and cli["slices"] == api["slices"]
    assert 'class="diff-hist"' in (tmp_path / "c.html").read_text()

    assert main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "faithfulness" in out and "worse" in out and "became unsupported: Fact 30 is false." in out
    assert main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "missing.jsonl")]) == 2


def test_slices_of_the_comparison_take_the_candidate_metadata():
    base = [row(i, 1.0, id=str(i), metadata={"topic": "x"}) for i in range(12)]
    cand = [row(i, 0.0 if i < 6 else 1.0, id=str(i), metadata={"topic": "y" if i < 6 else "x"}) for i in range(12)]
    result = compare_runs(base, cand, by=["topic"])
    assert [(s.key, s.pairs, s.too_small) for s in result.slices] == [({"topic": "x"}, 6, True),
                                                                      ({"topic": "y"}, 6, True)]


def test_cli_compare_on_a_running_service_takes_batch_ids_or_files(server, tmp_path, capsys):
    a = finished_batch(server, run_rows(BASELINE), "before.jsonl")
    b = finished_batch(server, run_rows(CANDIDATE), "after.jsonl")
    assert main(["compare", a, b, "--url", server, "--by", "topic", "--json"]) == 0
    by_ids = json.loads(capsys.readouterr().out)
    assert [m["verdict"] for m in by_ids["metrics"] if m["metric"] == "faithfulness"] == ["worse"]
    for name, batch_id in (("a.jsonl", a), ("b.jsonl", b)):
        (tmp_path / name).write_bytes(httpx.get(f"{server}/v1/batches/{batch_id}/results").content)
    assert main(["compare", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--url", server, "--by", "topic",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["slices"] == by_ids["slices"]
    assert main(["compare", a, "nope", "--url", server]) == 2
