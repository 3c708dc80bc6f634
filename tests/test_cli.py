"""The `ragmeter score` command, in-process, against the scripted judge."""
from __future__ import annotations

import json

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
