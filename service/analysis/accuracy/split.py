"""Which rows of the dev sets the embedded judge's support scorer was trained on, and which it never saw.

The HaluEval and HotpotQA dev files are split by a hash of what a right and a hallucinated answer
of one item share (the question, or for HaluEval's summaries, the document), so both answers of
an item fall on one side and a figure can be reported on rows the scorer was not fitted to.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

# HaluEval's summarization rows all ask the same question; their document tells the items apart.
SUMMARY_PROMPT = "Summarize"

HOLDOUT_SHARE = 0.3


def pair_key(row: dict) -> str:
    """What a right and a hallucinated answer of the same item share: the question, or the document."""
    if row.get("user_input") and not row["user_input"].startswith(SUMMARY_PROMPT):
        return row["user_input"]
    return (row.get("retrieved_contexts") or [""])[0]


def in_holdout(row: dict) -> bool:
    """True for the ~30% of items held out of training (both answers of an item fall on one side)."""
    digest = hashlib.sha256(pair_key(row).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < HOLDOUT_SHARE


def read_rows(path: Path, split: str = "all", limit: int | None = None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if split == "holdout":
        rows = [r for r in rows if in_holdout(r)]
    elif split == "train":
        rows = [r for r in rows if not in_holdout(r)]
    return rows[:limit] if limit else rows
