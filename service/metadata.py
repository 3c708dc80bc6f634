"""A row's own fields (retriever, topic, language, customer...): collected from an upload, checked against limits.

Metadata rides with the sample: stored with the batch row, echoed in results and downloads, and
read back to slice summaries and comparisons. Values are JSON scalars; an upload's list or object
cell is kept as its JSON text.
"""
from __future__ import annotations

import json
from typing import Any

from ragmeter.metrics.sample import FIELD_ALIASES

from ragmeter.service import json_text
from ragmeter.service.json_text import BadJSON

# Columns that are never metadata: the sample's own fields (every alias) and what a scored download adds,
# so that re-uploading a results file does not turn its scores into metadata.
SCORED_COLUMNS = ("row", "status", "error", "gate_passed", "hallucination_score", "unsupported_claims",
                  "useful_contexts", "faithfulness", "answer_relevancy", "context_precision", "context_recall",
                  "semantic_similarity", "citation_recall", "citation_precision")
RESERVED = frozenset({"metadata", *SCORED_COLUMNS, *(a for aliases in FIELD_ALIASES.values() for a in aliases)})
MAX_KEY_CHARS = 100


def gather(record: dict, keep: frozenset[str] = frozenset()) -> dict:
    """The record with every column that is not a sample field (nor in `keep`) moved into `metadata` (lists and
    objects as JSON).

    Raises BadJSON when a metadata cell is JSON that no writer could carry (nested too deeply, say).
    """
    reserved = RESERVED | keep
    extra = {k: v for k, v in record.items() if k not in reserved}
    given = record.get("metadata")
    if isinstance(given, str) and given.strip().startswith("{"):  # a CSV cell, or a re-uploaded download
        try:
            given = json_text.loads(given)
        except BadJSON as exc:
            if not exc.malformed:  # malformed stays text, which the sample then refuses as not an object
                raise BadJSON(exc.message, field=f"metadata.{exc.field}" if exc.field else "metadata") from exc
    if not extra and given is None:
        return record
    kept = {k: v for k, v in record.items() if k in reserved}
    metadata = dict(given) if isinstance(given, dict) else ({} if given in (None, "") else given)
    if isinstance(metadata, dict):
        for key, value in extra.items():
            value = value.item() if hasattr(value, "item") else value  # numpy scalars from Parquet
            if value == "":
                continue  # an empty CSV cell: the row has no value for that column
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # pandas makes a number column with gaps float: 3 stays 3
            if isinstance(value, (list, dict, tuple)):
                value = json.dumps(value, ensure_ascii=False, default=str)
            metadata[key] = value
    return {**kept, "metadata": metadata}


def limit_problems(metadata: dict[str, Any], max_keys: int, max_chars: int) -> list[tuple[tuple[str, ...], str]]:
    """(field path, message) for each key count, key name or value past the limits."""
    problems: list[tuple[tuple[str, ...], str]] = []
    if len(metadata) > max_keys:
        problems.append((("metadata",), f"{len(metadata)} keys is more than RAGMETER_MAX_METADATA_KEYS={max_keys}"))
    for key, value in metadata.items():
        if len(key) > MAX_KEY_CHARS:
            problems.append((("metadata", key[:40] + "..."), f"key of {len(key)} characters is more than "
                                                              f"{MAX_KEY_CHARS}"))
        if isinstance(value, str) and len(value) > max_chars:
            problems.append((("metadata", key), f"{len(value)} characters is more than "
                                                f"RAGMETER_MAX_METADATA_CHARS={max_chars}"))
    return problems


def value_label(value: Any) -> str:
    """How a slice is named: the value as text, '(none)' when the row lacks it."""
    if value is None or value == "":
        return "(none)"
    return json.dumps(value) if isinstance(value, bool) else str(value)
