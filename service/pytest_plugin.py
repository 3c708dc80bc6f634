"""pytest plugin: keep RAG quality checks beside unit tests.

    def test_answers_stay_grounded(assert_rag_quality):
        assert_rag_quality(samples, max_hallucination_rate=0.1, min_mean={"faithfulness": 0.8})

Samples are dicts with the Ragas or classic field names. Scoring uses the configured judge (the
embedded one without an API key). A failure lists each failing rule and the failing samples with
their unsupported claims.
"""
from __future__ import annotations

import pytest

from .quality_gate import GateRules, check


def assert_rag_quality(samples: list[dict], **rules) -> list[dict]:
    """Score the samples and assert every rule; returns the scored records for further checks."""
    from .gate_cli import score_records

    gate = GateRules.model_validate(rules)
    records = score_records(samples, gate)
    failed = [r for r in check(records, gate) if not r.passed]
    if failed:
        lines = [f"RAG quality gate failed ({len(records)} samples):"]
        for rule in failed:
            lines.append(f"  {rule.name}: {rule.actual} (required {rule.required}); {rule.detail}")
            for sample in rule.failing_samples[:10]:
                label = sample.get("id") if sample.get("id") not in (None, "") else f"row {sample.get('row')}"
                claims = "; ".join(sample.get("unsupported_claims") or []) or sample.get("error") or ""
                lines.append(f"    {label}: {sample.get('user_input')!r}" + (f" -> unsupported: {claims}" if claims else ""))
        raise AssertionError("\n".join(lines))
    return records


@pytest.fixture
def rag_quality():
    """The `assert_rag_quality` function, as a fixture."""
    return assert_rag_quality


@pytest.fixture(name="assert_rag_quality")
def assert_rag_quality_fixture():
    return assert_rag_quality
