"""A finished batch as downloadable rows (JSONL, CSV, Parquet) and as summary statistics."""
from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd

from metrics import METRIC_NAMES

from .store import ERROR, PENDING, Row

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


def result_records(rows: list[Row]) -> list[dict]:
    """One flat record per input row: its id and fields, scores, gate verdict, status and error."""
    return [flat_record(row.index, row.sample, row.result, row.status, row.error) for row in rows]


def flat_record(index: int, sample: dict, result: dict | None, status: str, error: str | None) -> dict:
    """The downloadable form of one scored row."""
    result = result or {}
    gate = result.get("gate") or {}
    scores = result.get("scores") or {}
    return {
        "row": index + 1,
        "id": sample.get("id"),
        "user_input": sample.get("user_input"),
        "retrieved_contexts": sample.get("retrieved_contexts"),
        "response": sample.get("response"),
        "reference": sample.get("reference"),
        **{metric: scores.get(metric) for metric in METRIC_NAMES},
        "gate_passed": gate.get("passed"),
        "hallucination_score": gate.get("hallucination_score"),
        "unsupported_claims": gate.get("unsupported_claims", []),
        "status": status,
        "error": error,
    }


def error_text(result) -> str | None:
    """A scored sample's judge errors as one message, or None when it had none."""
    return "; ".join(f"{e.stage}: {e.kind}: {e.message}" for e in result.errors) or None


def scored_record(index: int, sample: dict, result) -> dict:
    """The downloadable form of a row just scored in-process (`result` is a SampleResult)."""
    error = error_text(result)
    return flat_record(index, sample, result.model_dump(mode="json"), "error" if error else "scored", error)


def encode(records: list[dict], fmt: str) -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    frame = pd.DataFrame.from_records(records)
    if fmt == "csv":
        # Lists go into CSV cells as JSON, the same form the upload reads back.
        for column in ("retrieved_contexts", "unsupported_claims"):
            frame[column] = frame[column].map(lambda v: json.dumps(v, ensure_ascii=False))
        return frame.to_csv(index=False).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def summary(rows: list[Row], resamples: int = 2000, seed: int = 0) -> dict:
    """Per metric: mean, median, p10 and a 95% bootstrap interval of the mean; gate pass rate; errors."""
    records = result_records(rows)
    rng = np.random.default_rng(seed)
    metrics = {}
    for metric in METRIC_NAMES:
        values = np.array([r[metric] for r in records if r[metric] is not None], dtype=float)
        if len(values) == 0:
            metrics[metric] = {"n": 0, "mean": None, "median": None, "p10": None, "ci95": None}
            continue
        # Bounded memory on large batches: fewer resamples once rows x resamples passes 20 million.
        draws = max(200, min(resamples, 20_000_000 // len(values)))
        means = rng.choice(values, size=(draws, len(values)), replace=True).mean(axis=1)
        metrics[metric] = {"n": int(len(values)), "mean": round(float(values.mean()), 4),
                           "median": round(float(np.median(values)), 4),
                           "p10": round(float(np.percentile(values, 10)), 4),
                           "ci95": [round(float(np.percentile(means, 2.5)), 4),
                                    round(float(np.percentile(means, 97.5)), 4)]}
    verdicts = [r["gate_passed"] for r in records if r["gate_passed"] is not None]
    return {
        "rows": len(records),
        "scored": sum(r["status"] not in (PENDING,) for r in records),
        "errors": sum(r["status"] == ERROR for r in records),
        "gate_pass_rate": round(sum(verdicts) / len(verdicts), 4) if verdicts else None,
        "metrics": metrics,
    }
