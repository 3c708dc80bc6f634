"""ragmeter.toml as users keep it: only in pyproject.toml, in both files, hand-commented and then calibrated."""
from __future__ import annotations

import tomllib

import pytest
from pydantic_settings import SettingsError
from ragmeter.service.ci.rules import load_rules
from ragmeter.service.config_file import write_threshold
from ragmeter.service.settings import Settings

PYPROJECT = """[project]
name = "my-rag-app"  # ours
version = "1.0"

[tool.ragmeter.gate]
# tuned by hand in March
threshold = 0.4
min_mean = {faithfulness = 0.8}

[tool.other]
x = 1
"""


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("RAGMETER_HALLUCINATION_THRESHOLD", "RAGMETER_EMBEDDED_CLAIM_CUTOFF", "RAGMETER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_pyproject_alone_is_read_and_written_under_tool_ragmeter(here):
    (here / "pyproject.toml").write_text(PYPROJECT)
    assert Settings().hallucination_threshold == 0.4
    assert load_rules(None).min_mean == {"faithfulness": 0.8}
    write_threshold(here / "pyproject.toml", 0.3, {"rows": 80}, claim_cutoff=0.5)
    text = (here / "pyproject.toml").read_text()
    assert text.startswith('[project]\nname = "my-rag-app"  # ours\n') and "# tuned by hand in March" in text
    data = tomllib.loads(text)
    assert data["tool"]["ragmeter"] == {"gate": {"threshold": 0.3, "min_mean": {"faithfulness": 0.8}},
                                        "embedded": {"claim_cutoff": 0.5}, "calibration": {"rows": 80}}
    assert data["tool"]["other"] == {"x": 1} and data["project"]["version"] == "1.0"
    assert (Settings().hallucination_threshold, Settings().embedded_claim_cutoff) == (0.3, 0.5)
    assert load_rules(None).threshold == 0.3


def test_a_new_pyproject_table_is_written_as_tool_ragmeter_gate(here):
    (here / "pyproject.toml").write_text('[project]\nname = "x"\n')
    write_threshold(here / "pyproject.toml", 0.25, {"rows": 3})
    text = (here / "pyproject.toml").read_text()
    assert "[tool.ragmeter.gate]\nthreshold = 0.25\n" in text and "[tool.ragmeter.calibration]" in text
    assert load_rules(None).threshold == 0.25


def test_with_both_files_ragmeter_toml_wins_and_a_file_without_gate_rules_is_passed_over(here):
    (here / "pyproject.toml").write_text(PYPROJECT)
    (here / "ragmeter.toml").write_text("[gate]\nthreshold = 0.6\nmax_error_rate = 0.1\n")
    assert Settings().hallucination_threshold == 0.6
    assert load_rules(None).threshold == 0.6 and load_rules(None).min_mean == {}
    (here / "ragmeter.toml").write_text("[embedded]\nclaim_cutoff = 0.45\n")  # no gate rules here
    assert load_rules(None).min_mean == {"faithfulness": 0.8}  # the gate's from pyproject.toml
    assert Settings().embedded_claim_cutoff == 0.45


def test_comments_and_layout_survive_a_write(here):
    config = here / "ragmeter.toml"
    original = ("# Quality gate for the support bot.\n\n[gate]\n"
                "metrics = [\"faithfulness\"]  # the one that matters\n"
                "# raised after the Q3 incident\nthreshold = 0.7\nmax_error_rate = 0.02\n\n"
                "[calibration]\nold = 1\n\n[embedded]\n# keep\nclaim_cutoff = 0.6\n")
    config.write_text(original)
    write_threshold(config, 0.35, {"target": "precision=0.9", "rows": 200})
    text = config.read_text()
    for kept in ("# Quality gate for the support bot.", '"faithfulness"]  # the one that matters',
                 "# raised after the Q3 incident", "max_error_rate = 0.02", "# keep"):
        assert kept in text
    assert "threshold = 0.35" in text and "old = 1" not in text and text.count("threshold") == 1
    assert text.index("metrics") < text.index("threshold") < text.index("max_error_rate")  # in its place
    assert tomllib.loads(text)["calibration"] == {"target": "precision=0.9", "rows": 200}
    assert tomllib.loads(text)["embedded"] == {"claim_cutoff": 0.6}  # not asked to change


def test_a_broken_file_is_named_and_left_alone(here):
    config = here / "ragmeter.toml"
    config.write_text("[gate\nthreshold = 0.5\n")
    with pytest.raises(ValueError, match="ragmeter.toml is not valid TOML"):
        write_threshold(config, 0.3, {"rows": 1})
    assert config.read_text() == "[gate\nthreshold = 0.5\n"
    with pytest.raises(SettingsError, match="ragmeter.toml"):
        Settings()
    with pytest.raises(ValueError, match="ragmeter.toml"):
        load_rules(None)


def test_ragmeter_config_names_the_file(here, monkeypatch):
    (here / "ragmeter.toml").write_text("[gate]\nthreshold = 0.6\n")
    (here / "team.toml").write_text("[gate]\nthreshold = 0.2\n")
    monkeypatch.setenv("RAGMETER_CONFIG", str(here / "team.toml"))
    assert Settings().hallucination_threshold == 0.2
    assert load_rules(here / "team.toml").threshold == 0.2
