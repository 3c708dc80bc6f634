"""`ragmeter compare-judges`: two judges on the same rows, agreement and cost side by side, as text, JSON and HTML."""
from __future__ import annotations

import json

import pytest
from ragmeter.service.cli import main

from .helpers import SAMPLE, as_file
from .judge_sim_server import JudgeSim

ROWS = [SAMPLE, {**SAMPLE, "response": "The Eiffel Tower is in Berlin. It was completed in 1920."},
        {**SAMPLE, "response": "It was completed in 1889 for the World's Fair."}]


@pytest.fixture(scope="module")
def sim():
    server = JudgeSim()
    yield server
    server.stop()


def test_compare_judges_reports_both_judges_per_metric_with_cost(sim, tmp_path, monkeypatch, capsys):
    data = tmp_path / "rows.jsonl"
    data.write_bytes(as_file(ROWS, "jsonl"))
    monkeypatch.setenv("OPENAI_BASE_URL", sim.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sim")
    sim.reset()
    code = main(["compare-judges", str(data), "--judges", "ragmeter,embedded", "--json", str(tmp_path / "r.json"),
                 "--html", str(tmp_path / "r.html")])
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())

    assert report["judges"] == ["ragmeter", "embedded"] and report["rows"] == 3
    assert [m["metric"] for m in report["metrics"]] == ["faithfulness", "answer_relevancy", "context_precision",
                                                        "context_recall"]
    # The chat calls reported are the ones the simulator answered; the embedded judge makes none.
    assert report["cost"]["ragmeter"]["chat_calls"] == sim.stats()["chat_requests"] == 6
    assert report["cost"]["embedded"]["chat_calls"] == 0
    faith = report["metrics"][0]
    low, high = faith["interval_95"]
    assert low <= faith["mean_difference"] <= high
    differences = [abs(d["embedded"]["score"] - d["ragmeter"]["score"]) for d in faith["disagreements"]]
    assert differences == sorted(differences, reverse=True)
    assert all(d["ragmeter"]["why"] and d["embedded"]["why"] for d in faith["disagreements"])
    page = (tmp_path / "r.html").read_text()
    assert "<table>" in page and "Disagreements" in page
    printed = capsys.readouterr().out
    assert "ragmeter vs embedded" in printed and "chat calls" in printed


def test_compare_judges_names_two_known_judges(tmp_path, capsys):
    data = tmp_path / "rows.jsonl"
    data.write_bytes(as_file(ROWS, "jsonl"))
    assert main(["compare-judges", str(data), "--judges", "ragmeter"]) == 2
    assert main(["compare-judges", str(data), "--judges", "ragmeter,deepeval"]) == 2
    assert "--judges takes two of" in capsys.readouterr().err
