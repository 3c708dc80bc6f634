"""Gate calibration from labelled rows: the threshold for a target, its intervals, refusals, and --write."""
from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from ragmeter.metrics import evaluate
from ragmeter.service.ci.rules import load_rules
from ragmeter.service.cli import main
from ragmeter.service.analysis.calibration import MIN_PER_CLASS, Target, TooFewRows, calibrate, thresholds
from ragmeter.service.config_file import write_threshold
from ragmeter.service.settings import Settings

from .helpers import StubJudge


def test_precision_target_takes_the_most_recall_that_keeps_precision():
    # Scores of 60 hallucinated rows spread high, 60 faithful rows low, overlapping in the middle.
    rng = np.random.default_rng(1)
    labels = [True] * 60 + [False] * 60
    scores = list(np.round(np.r_[rng.uniform(0.3, 1.0, 60), rng.uniform(0.0, 0.6, 60)], 2))
    result = calibrate(scores, labels, Target.parse("precision=0.9"))
    assert result.met and result.point.precision >= 0.9
    better_recall = [p for p in result.curve if p.recall > result.point.recall]
    assert all(p.precision is None or p.precision < 0.9 for p in better_recall)
    p = result.point
    assert p.tp + p.fn == 60 and p.fp + p.tn == 60 and p.flagged == p.tp + p.fp
    assert result.precision_ci95[0] <= p.precision <= result.precision_ci95[1]
    assert result.recall_ci95[0] <= p.recall <= result.recall_ci95[1]

    recall = calibrate(scores, labels, Target.parse("recall=0.95"))
    assert recall.point.recall >= 0.95 and recall.point.threshold < p.threshold
    impossible = calibrate(scores, labels, Target.parse("precision=1.0"))
    assert impossible.met or impossible.point.precision == 1.0
    # Hallucinated rows scored 0 are never blocked, so no threshold reaches a recall above their share.
    unreachable = calibrate([0.0] * 30 + [1.0] * 30 + [0.0] * 40, labels[:60] + [False] * 40,
                            Target.parse("recall=0.9"))
    assert not unreachable.met and unreachable.point.recall == 0.5


def test_thresholds_split_between_neighbouring_scores():
    cuts = thresholds(np.array([0.0, 0.5, 0.5, 1.0]))
    assert cuts == [0.25, 0.75, 1.0]  # 0.0 can never be blocked: score > threshold >= 0
    assert thresholds(np.array([0.2, 0.4]))[0] == 0.0


def test_too_few_rows_of_a_class_is_refused_saying_how_many_are_needed():
    with pytest.raises(TooFewRows, match=f"at least {MIN_PER_CLASS} of each are needed"):
        calibrate([1.0] * 10 + [0.0] * 100, [True] * 10 + [False] * 100, Target.parse("balanced"))
    with pytest.raises(ValueError, match="precision=P, recall=R or balanced"):
        Target.parse("accuracy=0.9")


def test_write_keeps_the_rest_of_the_file_and_the_gate_and_service_read_it(tmp_path, monkeypatch):
    config = tmp_path / "ragmeter.toml"
    config.write_text("# ours\n[gate]\nmin_mean = {faithfulness = 0.8}\nthreshold = 0.7\n\n[calibration]\nold = 1\n")
    write_threshold(config, 0.35, {"target": "precision=0.9", "rows": 200})
    text = config.read_text()
    assert text.count("threshold") == 1 and "old = 1" not in text and "# ours" in text
    rules = load_rules(config)
    assert rules.threshold == 0.35 and rules.min_mean == {"faithfulness": 0.8}
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAGMETER_HALLUCINATION_THRESHOLD", raising=False)
    assert Settings().hallucination_threshold == 0.35
    monkeypatch.setenv("RAGMETER_HALLUCINATION_THRESHOLD", "0.5")
    assert Settings().hallucination_threshold == 0.5  # the environment wins

    fresh = tmp_path / "new.toml"
    write_threshold(fresh, 0.1, {"rows": 3})
    assert load_rules(fresh).threshold == 0.1


def labelled_file(path, faithful: int, hallucinated: int, mislabelled: int = 0):
    rows = [{"question": f"Q{i}?", "contexts": [f"Fact {i} is true."], "answer": f"Fact {i} is true.",
             "label_hallucinated": False} for i in range(faithful)]
    rows += [{"question": f"H{i}?", "contexts": [f"Fact {i} is true."], "answer": f"Fact {i} is false.",
              "label_hallucinated": "yes"} for i in range(hallucinated)]
    rows += [{"question": f"M{i}?", "contexts": [f"Fact {i} is true."], "answer": f"Fact {i} is odd.",
              "label_hallucinated": 0} for i in range(mislabelled)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture
def stub_scoring(monkeypatch):
    monkeypatch.setattr("ragmeter.service.cli.calibrate.score_samples",
                        lambda samples, metrics, **_: asyncio.run(evaluate(samples, StubJudge(), metrics)))


def test_cli_prints_the_threshold_and_writes_it_and_the_curve(stub_scoring, tmp_path, capsys):
    data = labelled_file(tmp_path / "labelled.jsonl", 40, 40, mislabelled=5)
    config, page = tmp_path / "ragmeter.toml", tmp_path / "curve.html"
    code = main(["calibrate", str(data), "--target", "precision=0.85", "--write", str(config), "--html", str(page)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "threshold 0.5 meets the target" in out and "precision 0.889" in out and "recall 1.000" in out
    assert load_rules(config).threshold == 0.5
    assert 'id="pr-curve"' in page.read_text() and "<td>40</td><td>0</td>" in page.read_text()

    assert main(["calibrate", str(data), "--target", "precision=0.95", "--write", str(tmp_path / "x.toml")]) == 2
    assert "no threshold meets precision=0.95" in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "x.toml").exists()


def test_cli_refuses_too_few_rows_and_unlabelled_rows(stub_scoring, tmp_path, capsys):
    assert main(["calibrate", str(labelled_file(tmp_path / "few.jsonl", 40, 12))]) == 2
    err = capsys.readouterr().err.replace("\n", " ")
    assert "12 rows labelled hallucinated" in err and "label 18 more hallucinated" in err
    data = labelled_file(tmp_path / "l.jsonl", 40, 40)
    assert main(["calibrate", str(data), "--label", "reviewer_says"]) == 2
    assert "no readable 'reviewer_says' label" in capsys.readouterr().err.replace("\n", " ")


def test_cli_writes_a_png_curve_with_matplotlib(stub_scoring, tmp_path):
    pytest.importorskip("matplotlib")
    data = labelled_file(tmp_path / "labelled.jsonl", 40, 40, mislabelled=5)
    assert main(["calibrate", str(data), "--png", str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
