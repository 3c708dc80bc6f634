"""The `ragmeter score` command, in-process, against the scripted judge."""
from __future__ import annotations

import json

from metrics.judges.support import SupportModel
from service.cli import main

from .test_api import SAMPLE


def test_score_prints_one_json_result_per_line(fake, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    data = tmp_path / "samples.jsonl"
    data.write_text(json.dumps(SAMPLE) + "\n\n" + json.dumps({**SAMPLE, "response": "I don't know."}) + "\n")

    assert main(["score", str(data), "--json", "--metrics", "faithfulness"]) == 0

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["scores"]["faithfulness"] for r in lines] == [2 / 3, None]
    assert lines[1]["details"]["faithfulness"]["reason"] == "no_claims"


def test_score_names_the_bad_line(tmp_path, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_text(json.dumps(SAMPLE) + "\n" + json.dumps({**SAMPLE, "response": ""}) + "\n")
    assert main(["score", str(data)]) == 2
    assert "bad.jsonl:2: response" in capsys.readouterr().err


def test_accuracy_reports_the_gates_balanced_accuracy_on_labelled_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    context = "The Oberoi Group is a hotel company with its head office in Delhi."
    rows = [
        {"user_input": "Where is the head office?", "retrieved_contexts": [context], "response": "Delhi",
         "label_hallucinated": False},
        {"user_input": "Where is the head office?", "retrieved_contexts": [context],
         "response": "The head office of the Oberoi Group is in Mumbai, near the harbour.",
         "label_hallucinated": True},
    ]
    data = tmp_path / "labelled.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")

    assert main(["accuracy", str(data)]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["judge"]["name"] == "local"
    assert report["rows"] == 2 and report["hallucinated"] == 1
    assert report["balanced_accuracy"] == 1.0
    assert report["threshold"] == SupportModel.load().threshold
