"""pytest plugin: keep RAG quality checks beside unit tests.

    def test_answers_stay_grounded(assert_rag_quality):
        assert_rag_quality(samples, max_hallucination_rate=0.1, min_mean={"faithfulness": 0.8})

Samples are dicts with the Ragas or classic field names. Scoring uses the configured judge (the
embedded one without an API key). A failure lists each failing rule and the failing samples with
their unsupported claims. pytest loads this module in every project that installs ragmeter, so it
imports nothing of ragmeter's until a test calls it.
"""
from __future__ import annotations

import pytest


def assert_rag_quality(samples: list[dict], **rules):
    """Score the samples and assert every rule; returns the scored rows (ScoredRow) for further checks."""
    from ragmeter.metrics import GateConfig, Sample

    from ragmeter.service.in_process import score_rows
    from ragmeter.service.ci.reporters import failure_message
    from ragmeter.service.ci.rules import GateRules
    from ragmeter.service.ci.verdict import ExitCode, judge_rows

    gate = GateRules.model_validate(rules)
    rows = score_rows([Sample.model_validate(s) for s in samples], gate.scored_metrics,
                      GateConfig(threshold=gate.threshold))
    verdict = judge_rows(rows, gate)
    if verdict.code != ExitCode.PASS:
        raise AssertionError(failure_message(verdict))
    return rows


@pytest.fixture
def rag_quality():
    """The `assert_rag_quality` function, as a fixture."""
    return assert_rag_quality


@pytest.fixture(name="assert_rag_quality")
def assert_rag_quality_fixture():
    return assert_rag_quality
