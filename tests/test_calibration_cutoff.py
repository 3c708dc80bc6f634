"""Calibrating the embedded judge's claim cut-off with the gate threshold, and the service using what was written."""
from __future__ import annotations

import asyncio

import numpy as np
from fastapi.testclient import TestClient

from ragmeter.metrics import evaluate
from ragmeter.metrics.judgements import ClaimVerdict
from ragmeter.service.server.app import create_app
from ragmeter.service.ci.rules import load_rules
from ragmeter.service.cli import main
from ragmeter.service.analysis.calibration import Target, calibrate, calibrate_with_cutoff, scores_at
from ragmeter.metrics.judges.embedded.support import SupportModel
from ragmeter.service.settings import Settings

from .helpers import StubJudge
from .test_calibration import labelled_file

OWN = SupportModel.load().claim_cutoff  # the shipped weights' own cut-off


def one_claim_rows(seed: int = 3) -> tuple[list[np.ndarray], list[bool]]:
    """One claim per answer: hallucinated ones mostly unlikely, faithful ones mostly likely, overlapping."""
    rng = np.random.default_rng(seed)
    hallucinated = np.round(rng.uniform(0.06, 0.7, 80), 3)
    faithful = np.round(rng.uniform(0.3, 0.99, 80), 3)
    return [np.array([p]) for p in np.r_[hallucinated, faithful]], [True] * 80 + [False] * 80


def test_graded_probabilities_reach_a_precision_target_a_single_threshold_cannot():
    claims, labels = one_claim_rows()
    target = Target.parse("precision=0.9")
    threshold_only = calibrate(list(scores_at(claims, OWN)), labels, target)
    assert set(scores_at(claims, OWN)) == {0.0, 1.0} and not threshold_only.met
    both = calibrate_with_cutoff(claims, labels, target, OWN)
    assert both.met and both.point.precision >= 0.9 and both.claim_cutoff < OWN
    assert both.own_claim_cutoff == OWN and both.rows == 160 and both.point.tp + both.point.fn == 80
    # What the chosen pair does is what the rows do: flagged are exactly the answers whose claim is below the cut-off.
    flagged = np.array([p[0] < both.claim_cutoff for p in claims])
    assert both.point.flagged == flagged.sum()
    assert both.precision_ci95[0] <= both.point.precision <= both.precision_ci95[1]


def test_the_weights_own_cut_off_wins_a_tie_and_rows_without_claims_pass():
    claims = [np.array([0.1])] * 40 + [np.array([0.9, 0.95])] * 40 + [np.array([])] * 5
    labels = [True] * 40 + [False] * 45
    result = calibrate_with_cutoff(claims, labels, Target.parse("balanced"), OWN)
    assert result.claim_cutoff == OWN and result.point.precision == 1.0 and result.point.recall == 1.0
    assert scores_at(claims, OWN)[-1] == 0.0 and scores_at(claims, 0.92)[40] == 0.5


def embedded_like(probabilities: dict[str, float]):
    """Scoring as the embedded judge reports it: each answer one claim with its support probability."""
    def score(samples, metrics, settings=None):
        assert settings is not None and settings.embedded_claim_cutoff == 1.0  # every claim gets the rewording check
        results = asyncio.run(evaluate(samples, StubJudge(), metrics))
        for sample, result in zip(samples, results, strict=True):
            p = probabilities[sample.response]
            result.details.faithfulness.claims = [ClaimVerdict(claim=sample.response, verdict="unsupported",
                                                               probability=p)]
        return results
    return score


def test_cli_writes_the_cut_off_with_the_threshold(monkeypatch, tmp_path, capsys):
    data = labelled_file(tmp_path / "labelled.jsonl", 40, 40)
    # Faithful answers 0.3-0.69, hallucinated 0.1-0.49: at the weights' cut-off (about 0.6) most faithful ones
    # would be blocked.
    probabilities = {f"Fact {i} is true.": 0.3 + i / 100 for i in range(40)}
    probabilities |= {f"Fact {i} is false.": 0.1 + i / 100 for i in range(40)}
    monkeypatch.setattr("ragmeter.service.cli.calibrate.score_samples", embedded_like(probabilities))
    monkeypatch.setenv("RAGMETER_JUDGE", "embedded")
    config = tmp_path / "ragmeter.toml"
    assert main(["calibrate", str(data), "--target", "precision=0.9", "--write", str(config)]) == 0
    out = capsys.readouterr().out
    assert "claim cut-off 0.32" in out and f"the weights' own: {OWN:g}" in out and "precision 0.917" in out
    assert load_rules(config).threshold == 0.5
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAGMETER_EMBEDDED_CLAIM_CUTOFF", raising=False)
    assert Settings().embedded_claim_cutoff == 0.32 and Settings().hallucination_threshold == 0.5
    monkeypatch.setenv("RAGMETER_EMBEDDED_CLAIM_CUTOFF", "0.6")
    assert Settings().embedded_claim_cutoff == 0.6  # the environment wins


CONTEXTS = ["The Oberoi family is an Indian family that is famous for its involvement in hotels, namely through "
            "The Oberoi Group.The Oberoi Group is a hotel company with its head office in Delhi."]


def test_the_service_judges_claims_at_the_written_cut_off(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("RAGMETER_EMBEDDED_CLAIM_CUTOFF", raising=False)
    monkeypatch.delenv("RAGMETER_HALLUCINATION_THRESHOLD", raising=False)
    monkeypatch.chdir(tmp_path)
    sample = {"question": "Where are they based?", "contexts": CONTEXTS,
              "answer": "The Oberoi Group runs hotels from Delhi."}

    def claim() -> dict:
        with TestClient(create_app(Settings())) as client:
            response = client.post("/v1/evaluate", json={"samples": [sample], "metrics": ["faithfulness"]})
        assert response.status_code == 200
        return response.json()["results"][0]["details"]["faithfulness"]["claims"][0]

    before = claim()
    assert before["verdict"] == "unsupported" and 0.06 < before["probability"] < OWN
    (tmp_path / "ragmeter.toml").write_text(f"[embedded]\nclaim_cutoff = {before['probability'] - 0.005:.4f}\n")
    after = claim()
    assert after["verdict"] == "supported" and after["probability"] == before["probability"]


def test_an_llm_judge_calibrates_the_threshold_alone(monkeypatch, tmp_path, capsys):
    def score(samples, metrics, **options):
        assert not options  # scored as configured, no cut-off to search
        return asyncio.run(evaluate(samples, StubJudge(), metrics))

    monkeypatch.setattr("ragmeter.service.cli.calibrate.score_samples", score)
    monkeypatch.setenv("RAGMETER_JUDGE", "openai")
    config = tmp_path / "ragmeter.toml"
    data = labelled_file(tmp_path / "labelled.jsonl", 40, 40, mislabelled=5)
    assert main(["calibrate", str(data), "--target", "precision=0.85", "--write", str(config)]) == 0
    assert "cut-off" not in capsys.readouterr().out and "[embedded]" not in config.read_text()
    assert load_rules(config).threshold == 0.5


def test_gate_config_names_the_file_the_cut_off_comes_from(monkeypatch, tmp_path):
    from ragmeter.service.settings import settings_for

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RAGMETER_EMBEDDED_CLAIM_CUTOFF", raising=False)
    monkeypatch.delenv("RAGMETER_CONFIG", raising=False)
    named = tmp_path / "ci.toml"
    named.write_text("[gate]\nthreshold = 0.4\n\n[embedded]\nclaim_cutoff = 0.3\n")
    assert settings_for(named).embedded_claim_cutoff == 0.3
    assert settings_for(None).embedded_claim_cutoff is None and Settings().embedded_claim_cutoff is None
