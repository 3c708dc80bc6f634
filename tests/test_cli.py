"""The `ragmeter score` command, in-process, against the scripted judge."""
from __future__ import annotations

import json

from ragmeter.metrics.judges.embedded.support import SupportModel
from ragmeter.service.cli import main

from .helpers import SAMPLE


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
    data.write_text(json.dumps(SAMPLE) + "\n" + json.dumps({**{k: v for k, v in SAMPLE.items() if k != "response"},
                                                            "answer": ""}) + "\n")
    assert main(["score", str(data)]) == 2
    assert "bad.jsonl: row 2, line 2: answer: Value error, must not be empty" in capsys.readouterr().err


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
    assert report["judge"]["name"] == "embedded"
    assert report["rows"] == 2 and report["hallucinated"] == 1
    assert report["balanced_accuracy"] == 1.0
    assert report["threshold"] == SupportModel.load().threshold


def test_accuracy_reports_aucs_and_per_family_accuracy(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    context = "The Oberoi Group is a hotel company with its head office in Delhi."
    question = "Where is the head office?"
    rows = [
        {"response": "Delhi", "label_hallucinated": False, "family": "short", "expected_verdict": "supported"},
        {"response": "The head office is in Mumbai, near the harbour.", "label_hallucinated": True,
         "family": "short", "expected_verdict": "unsupported"},
        {"response": "The Oberoi Group is a hotel company.", "label_hallucinated": False, "family": "paraphrase"},
        {"response": "I don't know.", "label_hallucinated": False, "family": "refusal"},
        {"response": "The Oberoi Group was founded in 1934 by Mohan Singh Oberoi.", "label_hallucinated": True,
         "family": "paraphrase"},
    ]
    data = tmp_path / "labelled.jsonl"
    data.write_text("".join(json.dumps({"user_input": question, "retrieved_contexts": [context], **r}) + "\n"
                            for r in rows))

    assert main(["accuracy", str(data)]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["rows"] == 5 and report["hallucinated"] == 2 and report["errors"] == 0
    for key in ("balanced_accuracy", "hallucination_auc", "lexical_rule_auc",
                "lexical_rule_best_cutoff_balanced_accuracy"):
        assert 0.0 <= report[key] <= 1.0, key
    families = report["families"]
    assert {name: f["rows"] for name, f in families.items()} == {"short": 2, "paraphrase": 2, "refusal": 1}
    assert all(0.0 <= f["accuracy"] <= 1.0 for f in families.values())
    assert "verdict_accuracy" in families["short"] and "verdict_accuracy" not in families["refusal"]
    assert families["short"]["verdict_accuracy"] is None or 0.0 <= families["short"]["verdict_accuracy"] <= 1.0


def test_score_writes_scored_rows_in_the_format_of_the_out_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    data = tmp_path / "set.csv"
    data.write_text('id,question,contexts,answer\nq1,Where?,"[""The office is in Delhi.""]",The office is in Delhi.\n')
    out = tmp_path / "scored.parquet"

    assert main(["score", str(data), "--out", str(out), "--metrics", "faithfulness"]) == 0

    import pandas as pd

    scored = pd.read_parquet(out)
    assert list(scored["id"]) == ["q1"] and list(scored["faithfulness"]) == [1.0]
    assert list(scored["status"]) == ["scored"]


def test_score_with_url_uploads_follows_the_job_and_downloads_results(server, tmp_path, capsys):
    data = tmp_path / "set.jsonl"
    data.write_text("".join(json.dumps({"id": f"r{i}", "question": "q?", "contexts": ["Fact."],
                                        "answer": "Fact." if i else "Fiction."}) + "\n" for i in range(5)))
    out = tmp_path / "scored.csv"

    assert main(["score", str(data), "--url", server, "--out", str(out), "--metrics", "faithfulness", "--json"]) == 0

    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 5 and summary["metrics"]["faithfulness"]["mean"] == 0.8
    assert out.read_text().count("\n") == 6


def test_score_with_url_prints_the_table_of_the_local_run(server, fake, tmp_path, monkeypatch, capsys):
    data = tmp_path / "set.jsonl"
    data.write_text(json.dumps({**SAMPLE, "id": "r0"}) + "\n")
    assert main(["score", str(data), "--url", server, "--metrics", "faithfulness"]) == 0
    remote = capsys.readouterr().out.splitlines()
    monkeypatch.setenv("OPENAI_BASE_URL", fake.url)
    assert main(["score", str(data), "--metrics", "faithfulness"]) == 0
    local = capsys.readouterr().out.splitlines()
    # The same title and columns; each row starts with its id.
    assert remote[0].strip() == local[0].strip() == "ragmeter scores"
    assert remote[2].split() == local[2].split() and "faithfulness" in remote[2]
    assert any(line.split("│")[1].strip() == "r0" for line in remote if line.count("│") > 2)


def test_serve_refuses_an_unusable_database_url_in_one_line(monkeypatch, capsys):
    monkeypatch.setenv("RAGMETER_DB", "nonsense://somewhere")
    assert main(["serve", "--port", "1"]) == 2
    assert "cannot use RAGMETER_DB" in capsys.readouterr().err


def test_serve_keeps_idle_connections_open_as_long_as_configured(monkeypatch):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    monkeypatch.setenv("RAGMETER_KEEP_ALIVE_S", "90")
    monkeypatch.setenv("RAGMETER_JUDGE", "embedded")
    assert main(["serve", "--port", "1"]) == 0
    assert started["timeout_keep_alive"] == 90 and started["port"] == 1


def test_serve_times_out_incomplete_request_headers_as_configured(monkeypatch):
    import uvicorn

    started = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.update(options))
    monkeypatch.setenv("RAGMETER_HEADER_TIMEOUT_S", "3")
    monkeypatch.setenv("RAGMETER_JUDGE", "embedded")
    assert main(["serve", "--port", "1"]) == 0
    assert started["http"].header_timeout_s == 3


def test_an_invalid_setting_is_one_line_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("RAGMETER_RATE_LIMIT_RPS", "-1")
    assert main(["keys", "list"]) == 2
    assert "RAGMETER_RATE_LIMIT_RPS" in capsys.readouterr().err
    monkeypatch.setenv("RAGMETER_RATE_LIMIT_RPS", "0")
    assert main(["keys", "create", ""]) == 2
