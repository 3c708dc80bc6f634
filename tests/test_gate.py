"""`ragmeter gate` and the pytest plugin: exit codes, JUnit, baseline regressions, failure messages."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np

from ragmeter.service.ci.baseline import paired_drop
from ragmeter.service.cli import main

pytest_plugins = ["pytester"]


def scored(path, faith: list[float | None], errors: int = 0, ids=None):
    records = []
    for i, f in enumerate(faith):
        records.append({"row": i + 1, "id": ids[i] if ids else f"s{i}", "user_input": f"Question {i}?",
                        "faithfulness": f, "gate_passed": None if f is None else f >= 0.8,
                        "unsupported_claims": [] if f is None or f >= 0.8 else [f"made-up claim {i}"],
                        "status": "error" if i < errors else "scored",
                        "error": "verify: timeout: judge did not answer" if i < errors else None})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def config(tmp_path, body: str):
    path = tmp_path / "ragmeter.toml"
    path.write_text("[gate]\nmetrics = [\"faithfulness\"]\n" + body)
    return path


def test_exit_zero_when_every_rule_passes(tmp_path):
    results = scored(tmp_path / "r.jsonl", [1.0, 0.9, 1.0])
    cfg = config(tmp_path, "max_hallucination_rate = 0.1\nmin_mean = {faithfulness = 0.8}\n")
    assert main(["gate", "--scored", str(results), "--config", str(cfg)]) == 0


def test_exit_one_lists_failing_samples_and_their_unsupported_claims(tmp_path, capsys):
    results = scored(tmp_path / "r.jsonl", [1.0, 0.5, 0.2, 1.0])
    cfg = config(tmp_path, "max_hallucination_rate = 0.1\nmin_sample = {faithfulness = 0.3}\n")
    junit = tmp_path / "junit.xml"

    assert main(["gate", "--scored", str(results), "--config", str(cfg), "--junit", str(junit)]) == 1

    out = capsys.readouterr().out
    assert "FAIL" in out and "made-up claim 1" in out and "made-up claim 2" in out
    suite = ET.parse(junit).getroot()
    # rules: error rate, min_sample, hallucination rate; samples: 1 under min_sample, 2 failing the gate
    assert (suite.get("tests"), suite.get("failures")) == ("6", "5")
    names = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert names == ["min_sample.faithfulness", "s2", "max_hallucination_rate", "s2", "s1"]


def test_a_truncated_list_of_failing_samples_says_how_many_more(tmp_path, capsys):
    results = scored(tmp_path / "r.jsonl", [0.2] * 12 + [1.0])
    cfg = config(tmp_path, "max_hallucination_rate = 0.1\n")
    assert main(["gate", "--scored", str(results), "--config", str(cfg)]) == 1
    out = capsys.readouterr().out
    assert "made-up claim 9" in out and "made-up claim 10" not in out and "... and 2 more" in out
    assert main(["gate", "--scored", str(results), "--config", str(cfg), "--json"]) == 1
    failing = json.loads(capsys.readouterr().out)["rules"][1]["failing_samples"]
    assert len(failing) == 12


def test_exit_two_on_usage_or_infrastructure_errors(tmp_path):
    results = scored(tmp_path / "r.jsonl", [1.0, None, None, 1.0], errors=2)
    cfg = config(tmp_path, "max_error_rate = 0.1\n")
    assert main(["gate", "--scored", str(results), "--config", str(cfg)]) == 2
    assert main(["gate", "--scored", str(tmp_path / "missing.jsonl"), "--config", str(cfg)]) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text("[gate]\nmax_error_rate = 'lots'\n")
    assert main(["gate", "--scored", str(results), "--config", str(bad)]) == 2
    assert main(["gate", "--config", str(cfg)]) == 2  # nothing to gate


def test_json_output_and_github_step_summary(tmp_path, capsys, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    results = scored(tmp_path / "r.jsonl", [1.0, 0.4])
    cfg = config(tmp_path, "max_hallucination_rate = 0.0\n")
    assert main(["gate", "--scored", str(results), "--config", str(cfg), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["verdict"] == "fail"
    assert verdict["rules"][1]["failing_samples"] == [{"id": "s1", "unsupported_claims": ["made-up claim 1"],
                                                       "error": None}]
    assert "### ragmeter gate: FAIL" in summary.read_text() and "made-up claim 1" in summary.read_text()


def test_scores_a_dataset_in_process_with_the_embedded_judge(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    data = tmp_path / "set.jsonl"
    context = "The Oberoi Group is a hotel company with its head office in Delhi."
    data.write_text(json.dumps({"id": "ok", "question": "Where?", "contexts": [context], "answer": "Delhi"}) + "\n"
                    + json.dumps({"id": "bad", "question": "Where?", "contexts": [context], "answer": "Mumbai"}) + "\n")
    cfg = config(tmp_path, "max_hallucination_rate = 0.0\n")
    out = tmp_path / "run.jsonl"
    assert main(["gate", str(data), "--config", str(cfg), "--out", str(out)]) == 1
    assert "bad" in capsys.readouterr().out
    assert [json.loads(line)["gate_passed"] for line in out.read_text().splitlines()] == [True, False]


def test_baseline_drop_is_caught_and_pure_noise_is_not(tmp_path):
    baseline = scored(tmp_path / "old.jsonl", [0.9] * 30)
    worse = scored(tmp_path / "new.jsonl", [0.7] * 30)
    cfg = config(tmp_path, "baseline_tolerance = 0.02\n")
    assert main(["gate", "--scored", str(worse), "--baseline", str(baseline), "--config", str(cfg)]) == 1
    assert main(["gate", "--scored", str(baseline), "--baseline", str(baseline), "--config", str(cfg)]) == 0


def test_regression_check_false_alarm_and_detection_rates_over_many_seeds():
    false_alarms = detections = 0
    runs = 400
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        before = rng.beta(5, 2, size=100)
        # Judge noise: each score moves by up to ~0.1 between runs, with no real change.
        noisy = np.clip(before + rng.normal(0, 0.08, size=100), 0, 1)
        worse = np.clip(before - 0.08 + rng.normal(0, 0.08, size=100), 0, 1)
        false_alarms += paired_drop("m", np.column_stack([before, noisy]), 0.02, resamples=500, seed=seed).regressed
        detections += paired_drop("m", np.column_stack([before, worse]), 0.02, resamples=500, seed=seed).regressed
    print(f"false-alarm rate {false_alarms / runs:.3f}, detection rate {detections / runs:.3f} over {runs} seeds")
    assert false_alarms / runs < 0.05
    assert detections / runs > 0.95


def test_the_pytest_plugin_fails_with_the_unsupported_claims(pytester, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile("""
        CONTEXT = "The Oberoi Group is a hotel company with its head office in Delhi."

        def test_grounded(assert_rag_quality):
            assert_rag_quality([{"question": "Where?", "contexts": [CONTEXT], "answer": "Delhi"}],
                               metrics=["faithfulness"], max_hallucination_rate=0.0)

        def test_hallucinated(assert_rag_quality):
            assert_rag_quality([{"id": "q7", "question": "Where?", "contexts": [CONTEXT], "answer": "Mumbai"}],
                               metrics=["faithfulness"], max_hallucination_rate=0.0)
    """)
    result = pytester.runpytest_inprocess()  # the plugin comes in through its pytest11 entry point
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*max_hallucination_rate: 1.0 (required <= 0.0)*",
                                 "*q7: 'Where?' -> unsupported: Mumbai*"])
