"""The flat row of a scored sample: what batch downloads hold and what the CI gate and pytest plugin read.

One model in both directions: built from a Sample and its SampleResult, written as JSONL, CSV
or Parquet, and read back from those files (`ragmeter gate --scored/--baseline`). Its metric
columns are the registered metrics.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, Field, ValidationError, field_validator

from ragmeter.metrics import METRIC_NAMES, Sample, SampleResult

from ragmeter.service import json_text

MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
LIST_COLUMNS = ("retrieved_contexts", "unsupported_claims", "useful_contexts")
# Held as a JSON cell in CSV and Parquet (its keys differ from row to row).
OBJECT_COLUMNS = ("metadata",)


class RowStatus(StrEnum):
    PENDING = "pending"
    SCORED = "scored"
    ERROR = "error"


class ScoredRow(BaseModel):
    """One scored sample, flat: its fields, each metric's score, the gate, its status."""

    row: int = Field(description="1-based position in the input.")
    id: str | int | None = None
    user_input: str | None = None
    retrieved_contexts: list[str] = []
    response: str | None = None
    reference: str | None = None
    # One column per registered metric, in the registry's order (tests/test_registry.py checks it).
    faithfulness: float | None = None
    answer_relevancy: float | None = None
    context_precision: float | None = None
    context_recall: float | None = None
    semantic_similarity: float | None = None
    answer_correctness: float | None = None
    overall_precision: float | None = None
    overall_recall: float | None = None
    overall_f1: float | None = None
    claim_recall: float | None = None
    retriever_context_precision: float | None = None
    context_utilization: float | None = None
    noise_sensitivity_relevant: float | None = None
    noise_sensitivity_irrelevant: float | None = None
    hallucination: float | None = None
    self_knowledge: float | None = None
    citation_recall: float | None = None
    citation_precision: float | None = None
    gate_passed: bool | None = None
    hallucination_score: float | None = None
    unsupported_claims: list[str] = []
    status: RowStatus = RowStatus.SCORED
    error: str | None = None
    useful_contexts: list[int] = Field([], description="Indices of the contexts judged useful (context precision).")
    metadata: dict[str, Any] = Field({}, description="The sample's own fields (extra upload columns).")

    @field_validator(*LIST_COLUMNS, mode="before")
    @classmethod
    def _list_from_cell(cls, value: object) -> object:
        # CSV cells hold lists as JSON; Parquet gives arrays; a missing cell is an empty list.
        if value is None:
            return []
        if isinstance(value, str):
            return json_text.loads(value) if value.strip().startswith("[") else [value]
        return list(value) if isinstance(value, Iterable) and not isinstance(value, list) else value

    @field_validator(*OBJECT_COLUMNS, mode="before")
    @classmethod
    def _object_from_cell(cls, value: object) -> object:
        if value is None or value == "":
            return {}
        return json_text.loads(value) if isinstance(value, str) else value

    @classmethod
    def of(cls, index: int, sample: Sample, result: SampleResult | None = None,
           status: RowStatus | None = None, error: str | None = None) -> ScoredRow:
        """The row of a sample: scored when a result is given, else as `status` says (pending by default)."""
        if result is not None:
            error = result.error_text()
            status = RowStatus.ERROR if error else RowStatus.SCORED
        scores = result.scores.model_dump() if result is not None else {}
        gate = result.gate if result is not None else None
        return cls(row=index + 1, id=sample.id, user_input=sample.user_input,
                   retrieved_contexts=sample.retrieved_contexts, response=sample.response,
                   reference=sample.reference, **scores,
                   gate_passed=gate.passed if gate else None,
                   hallucination_score=gate.hallucination_score if gate else None,
                   unsupported_claims=gate.unsupported_claims if gate else [],
                   useful_contexts=useful_contexts(result), metadata=sample.metadata,
                   status=status or RowStatus.PENDING, error=error)

    @property
    def label(self) -> str:
        """How people name this row: its id, or its 1-based row number."""
        return str(self.id) if self.id not in (None, "") else f"row {self.row}"

    @property
    def problem(self) -> str:
        """What is wrong with it in one line: its unsupported claims, else its error."""
        return "; ".join(self.unsupported_claims) or self.error or ""

    def score(self, metric: str) -> float | None:
        return getattr(self, metric)


def useful_contexts(result: SampleResult | None) -> list[int]:
    """Indices of the contexts the judge found useful; empty when context precision was not judged."""
    if result is None:
        return []
    return [c.index for c in result.details.context_precision.contexts if c.useful]


_TEXT, _SCORE = pa.string(), pa.float64()
_COLUMNS: list[tuple[str, pa.DataType]] = (
    [("row", pa.int64()), ("id", _TEXT), ("user_input", _TEXT), ("retrieved_contexts", pa.list_(_TEXT)),
     ("response", _TEXT), ("reference", _TEXT), *[(name, _SCORE) for name in METRIC_NAMES],
     ("gate_passed", pa.bool_()), ("hallucination_score", _SCORE), ("unsupported_claims", pa.list_(_TEXT)),
     ("status", _TEXT), ("error", _TEXT), ("useful_contexts", pa.list_(pa.int64())), ("metadata", _TEXT)])
PARQUET_SCHEMA = pa.schema(_COLUMNS)

# A spreadsheet runs a cell that starts with one of these as a formula (OWASP, CSV injection), also after
# leading blanks and control characters, which some spreadsheets skip.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SKIPPED_BEFORE_FORMULA = "".join(chr(c) for c in range(33)) + "\x7f\x85\xa0\u2028\u2029\ufeff"


def encode(rows: list[ScoredRow], fmt: str) -> bytes:
    """The rows as a JSONL, CSV or Parquet file."""
    encoder = Encoder(fmt)
    return encoder.page(rows) + encoder.close()


class Encoder:
    """Writes rows as JSONL, CSV or Parquet one page at a time: each call gives the next bytes of one file."""

    def __init__(self, fmt: str):
        self.fmt = fmt
        self.started = False
        self._sink = _Sink()
        self._parquet: pq.ParquetWriter | None = None

    def page(self, rows: list[ScoredRow]) -> bytes:
        """The next part of the file: these rows (with the CSV header or Parquet preamble before the first)."""
        return self.records([r.model_dump(mode="json") for r in rows])

    def records(self, records: list[dict]) -> bytes:
        """As `page`, for rows already flattened the way `ScoredRow.model_dump(mode="json")` (or `flat`) gives them."""
        first, self.started = not self.started, True
        if self.fmt == "jsonl":
            return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()
        for record in records:
            # Ids may mix numbers and strings (or exceed 64 bits): one text column for the columnar formats.
            record["id"] = None if record["id"] is None else str(record["id"])
            for column in OBJECT_COLUMNS:
                record[column] = json.dumps(record[column], ensure_ascii=False)
        if self.fmt == "csv":
            frame = pd.DataFrame.from_records(records, columns=list(ScoredRow.model_fields))
            # Lists go into CSV cells as JSON, the same form the upload reads back.
            for column in LIST_COLUMNS:
                frame[column] = frame[column].map(lambda v: json.dumps(v, ensure_ascii=False))
            # Ids are never altered (an upload refuses an id that would run as a formula: service/ids.py).
            for column in frame.select_dtypes(exclude=["number", "bool"]).columns.drop("id", errors="ignore"):
                frame[column] = frame[column].map(neutralise_formula)
            # CRLF rows (RFC 4180): the writer then quotes every cell holding \r or \n, so none splits a row.
            return frame.to_csv(index=False, header=first, lineterminator="\r\n").encode()
        if self._parquet is None:
            # pyarrow writes to any object with write/tell/flush/close; its stubs ask for a real file.
            self._parquet = pq.ParquetWriter(self._sink, PARQUET_SCHEMA)  # type: ignore[arg-type]
        if records:
            self._parquet.write_table(pa.Table.from_pylist(records, schema=PARQUET_SCHEMA))
        return self._sink.take()

    def close(self) -> bytes:
        """The end of the file (the Parquet footer; the CSV header when there were no rows)."""
        tail = b"" if self.started or self.fmt == "jsonl" else self.records([])
        if self._parquet is not None:
            self._parquet.close()
            tail += self._sink.take()
        return tail


class _Sink:
    """A write-only stream that hands over what was written so far; pyarrow asks it for its position."""

    closed = False

    def __init__(self):
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self.closed = True

    def take(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def flat(index: int, sample: dict, status: str, result: dict | None, error: str | None) -> dict:
    """A stored row (its sample and result as stored JSON) as `ScoredRow.of(...).model_dump(mode="json")` gives it.

    Built without validating, since the store only holds what was validated on the way in: a download
    of a large job then costs a dict per row instead of three pydantic models.
    """
    gate = scores = None
    if result is not None:
        error = "; ".join(f"{e['stage']}: {e['kind']}: {e['message']}" for e in result.get("errors") or []) or None
        status = RowStatus.ERROR if error else RowStatus.SCORED
        scores, gate = result.get("scores") or {}, result.get("gate")
    record = {"row": index + 1, "id": sample.get("id"), "user_input": sample.get("user_input"),
              "retrieved_contexts": sample.get("retrieved_contexts") or [], "response": sample.get("response"),
              "reference": sample.get("reference")}
    for name in METRIC_NAMES:
        value = scores.get(name) if scores else None
        record[name] = None if value is None else float(value)
    hallucination = gate.get("hallucination_score") if gate else None
    record.update(gate_passed=gate.get("passed") if gate else None,
                  hallucination_score=None if hallucination is None else float(hallucination),
                  unsupported_claims=(gate.get("unsupported_claims") or []) if gate else [],
                  status=str(RowStatus(status or RowStatus.PENDING)), error=error)
    precision = ((result.get("details") or {}).get("context_precision") or {}) if result is not None else {}
    record["useful_contexts"] = [c["index"] for c in precision.get("contexts") or [] if c.get("useful")]
    record["metadata"] = sample.get("metadata") or {}
    return record


def neutralise_formula(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula, prefixed with ' so it is shown as text.

    The formula may follow blanks and control characters ("\\r=cmd|..."), which spreadsheets skip.
    """
    if not isinstance(value, str):
        return value
    risky = value.startswith(FORMULA_STARTS) or value.lstrip(_SKIPPED_BEFORE_FORMULA).startswith(FORMULA_STARTS[:4])
    return "'" + value if risky else value


def read(path: Path) -> list[ScoredRow]:
    """Scored rows from a JSONL, CSV or Parquet file written by `encode`; raises ValueError."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt == "jsonl":
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [_validated(number, line, ScoredRow.model_validate_json) for number, line in enumerate(lines, 1)]
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"{path}: scored results must be .jsonl, .csv or .parquet")
    frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    if fmt == "csv" and "id" in frame.columns:
        # Ids stay the text written ("007", "-1", "NA"), not numbers or NaN guessed by the reader; empty is no id.
        frame["id"] = pd.read_csv(path, usecols=["id"], dtype=str, keep_default_na=False)["id"].replace("", None)
    records = frame.astype(object).where(pd.notna(frame), None).to_dict(orient="records")
    return [_validated(number, r, ScoredRow.model_validate) for number, r in enumerate(records, 1)]


def _validated(number: int, record: Any, validate: Callable[[Any], ScoredRow]) -> ScoredRow:
    """The row, or a ValueError naming its 1-based number and the field that is wrong."""
    try:
        return validate(record)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(map(str, error["loc"]))
        raise ValueError(f"row {number}: {field + ': ' if field else ''}{error['msg']}") from exc
