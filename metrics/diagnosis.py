"""Plain-words diagnosis from RAGChecker's numbers: which part of the pipeline to fix, for a sample or a batch.

Each finding is a rule on one metric; the thresholds are our own reading of the RAGChecker paper's
tables (Ru et al., 2024), where typical systems sit, so that a line means "worse than usual".
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .registry import BY_NAME

# The rules, one per metric, each with its limit and the reason for it: data, kept apart from the code.
RULES_FILE = Path(__file__).resolve().parent / "diagnosis.json"


@dataclass(frozen=True)
class Finding:
    metric: str
    limit: float  # worse than this, in the metric's own direction (Metric.better), makes the line
    text: str  # formatted with value (the score) and miss (1 - the score)
    why: str  # why this limit: shown in the docs, kept beside the number it explains

    def applies(self, value: float) -> bool:
        return value > self.limit if BY_NAME[self.metric].better == "lower" else value < self.limit


FINDINGS = tuple(Finding(**row) for row in json.loads(RULES_FILE.read_text())["findings"])
# The metrics a diagnosis reads: without any of them there is nothing to diagnose (None, not []).
DIAGNOSTIC_METRICS = tuple(dict.fromkeys(f.metric for f in FINDINGS))


def diagnose(scores: Mapping[str, float | None]) -> list[str] | None:
    """The findings for these scores (a sample's, or a batch's means); None when no diagnostic metric was scored."""
    present = {m: v for m in DIAGNOSTIC_METRICS if (v := scores.get(m)) is not None}
    if not present:
        return None
    return [f.text.format(value=value, miss=1.0 - value) for f in FINDINGS
            if (value := present.get(f.metric)) is not None and f.applies(value)]
