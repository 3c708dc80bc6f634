"""Reads an uploaded evaluation set (CSV, JSONL, JSON or Parquet) into validated samples.

The whole file is checked before a job starts; problems name their row (1-based record number)
and, for the text formats, their line in the file.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path, PurePath

import numpy as np
import pandas as pd
from pydantic import BaseModel, ValidationError

from ragmeter.metrics import Sample
from ragmeter.metrics.sample import FIELD_ALIASES as ALIASES

from ragmeter.service import json_text, metadata
from ragmeter.service.ids import id_problems
from ragmeter.service.json_text import BadJSON
from ragmeter.service.limits import Budget, limit_problems
from ragmeter.service.settings import Settings

FORMATS = ("csv", "jsonl", "json", "parquet")
MAX_PROBLEMS = 20


class Problem(BaseModel):
    row: int | None = None
    line: int | None = None
    field: str | None = None
    message: str

    def where(self) -> str:
        """'row 2, line 3: answer: must not be empty'."""
        place = ", ".join(f"{k} {v}" for k, v in (("row", self.row), ("line", self.line)) if v)
        field = f"{self.field}: " if self.field else ""
        return f"{place + ': ' if place else ''}{field}{self.message}"


class BadUpload(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(p.message for p in problems[:3]))
        self.problems = problems[:MAX_PROBLEMS]

    def describe(self) -> str:
        """Every problem with its place, for a terminal."""
        return "; ".join(p.where() for p in self.problems)


def detect_format(filename: str, declared: str | None = None) -> str:
    fmt = (declared or PurePath(filename).suffix.lstrip(".")).lower()
    if fmt == "ndjson":
        fmt = "jsonl"
    if fmt not in FORMATS:
        raise BadUpload([Problem(message=f"unknown format {fmt or '(none)'!r}: use one of {', '.join(FORMATS)} "
                                         "(by file extension or the `format` field)")])
    return fmt


def read_file(path: Path, needs_contexts: bool = True, settings: Settings | None = None,
              model: type[Sample] = Sample) -> list[Sample]:
    """A local file read as an upload; raises OSError or BadUpload."""
    return read_upload(path.read_bytes(), path.name, needs_contexts=needs_contexts, settings=settings, model=model)


def read_upload(data: bytes, filename: str, *, fmt: str | None = None, mapping: dict[str, str] | None = None,
                separator: str | None = None, needs_contexts: bool = True,
                settings: Settings | None = None, budget: Budget | None = None,
                model: type[Sample] = Sample) -> list[Sample]:
    """Every row as a validated Sample, or BadUpload naming each problem's row and line.

    `budget`: the most characters a sample may hold (default RAGMETER_MAX_SAMPLE_CHARS). `model`: a subclass of
    Sample whose own fields (a record's timestamp, trace_id, app) are read as such, not moved into metadata."""
    settings = settings or Settings()
    fmt = detect_format(filename, fmt)
    frame, first_line = _frame(data, fmt, settings.max_columns)
    if mapping:
        absent = [theirs for theirs in mapping.values() if theirs not in frame.columns]
        if absent:
            raise BadUpload([Problem(field=f, message=f"mapped column {f!r} is not in the file") for f in absent])
        frame = frame.rename(columns={theirs: ours for ours, theirs in mapping.items()})
    required = ["user_input", "response"] + (["retrieved_contexts"] if needs_contexts else [])
    missing = [name for name in required if not any(a in frame.columns for a in ALIASES[name])]
    if missing:
        raise BadUpload([Problem(field=name, message=f"missing column {name!r} (or {ALIASES[name][1]!r}); "
                                                     f"columns found: {', '.join(map(str, frame.columns))}")
                         for name in missing])
    if frame.empty:
        raise BadUpload([Problem(message="the file holds no rows")])

    own_fields = frozenset(model.model_fields) - frozenset(Sample.model_fields)
    samples, problems = [], []
    for i, record in enumerate(_records(frame)):
        line = first_line + i if first_line else None
        try:
            # An empty CSV cell of a record field means no value, as it does for metadata.
            record = {k: v for k, v in record.items() if not (k in own_fields and v == "")}
            record = metadata.gather(_contexts_as_list(record, separator), keep=own_fields)
        except BadJSON as exc:  # a CSV cell holding JSON that no writer could carry
            problems.append(Problem(row=i + 1, line=line, field=exc.field, message=exc.message))
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        try:
            sample = model.model_validate(record)
        except ValidationError as exc:
            for error in exc.errors():
                problems.append(Problem(row=i + 1, line=line, field=".".join(str(p) for p in error["loc"]),
                                        message=error["msg"]))
            if len(problems) >= MAX_PROBLEMS:
                break
            continue
        if needs_contexts and not sample.retrieved_contexts:
            problems.append(Problem(row=i + 1, line=line, field="retrieved_contexts", message="no contexts"))
            continue
        too_big = limit_problems(sample, settings, budget)
        problems.extend(Problem(row=i + 1, line=line, field=".".join(map(str, p.field)), message=p.message)
                        for p in too_big)
        if len(problems) >= MAX_PROBLEMS:
            break
        samples.append(sample)
    if not problems:  # ids are checked across rows once every row is valid
        problems = [Problem(row=row, field="id", message=message) for row, message in
                    id_problems([s.id for s in samples])][:MAX_PROBLEMS]
    if problems:
        raise BadUpload(problems)
    return samples


def _too_wide(columns: int, max_columns: int, what: str = "columns") -> None:
    """BadUpload when a file has more columns than RAGMETER_MAX_COLUMNS: said before its rows are read."""
    if columns > max_columns:
        raise BadUpload([Problem(message=f"{columns} {what} is more than RAGMETER_MAX_COLUMNS={max_columns}")])


def _frame(data: bytes, fmt: str, max_columns: int) -> tuple[pd.DataFrame, int]:
    """The file as a frame, and the file line of its first record (0 when lines mean nothing)."""
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            # The footer alone says how many columns there are; the data is read only when that is within bounds.
            _too_wide(pq.ParquetFile(io.BytesIO(data)).metadata.num_columns, max_columns)
            return pd.read_parquet(io.BytesIO(data)), 0
        except BadUpload:
            raise
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise BadUpload([Problem(message=f"not a readable Parquet file: {exc}")]) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        where = data[:exc.start].count(b"\n") + 1
        raise BadUpload([Problem(line=where, message=f"not UTF-8 text: bad byte at offset {exc.start}")]) from exc
    if fmt == "csv":
        try:
            _too_wide(len(next(csv.reader(io.StringIO(text)), [])), max_columns, "header columns")
        except csv.Error as exc:
            raise BadUpload([Problem(line=1, message=f"not a readable CSV header: {exc}")]) from exc
        try:
            return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False), 2
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise BadUpload([Problem(message=f"not a readable CSV file: {exc}")]) from exc
    if fmt == "json":
        try:
            records = json_text.loads(text)
        except BadJSON as exc:
            field = _record_field(exc.field)
            raise BadUpload([Problem(row=field[0], line=exc.line, field=field[1], message=exc.message)]) from exc
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise BadUpload([Problem(message="a JSON upload must be a list of records (objects)")])
        _too_wide(len(set().union(*records)), max_columns, "distinct record keys")
        return pd.DataFrame.from_records(records), 0
    records, problems = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json_text.loads(line)
        except BadJSON as exc:
            message = f"{exc.message} (a JSON line)" if exc.malformed else exc.message
            problems.append(Problem(line=number, field=exc.field, message=message))
            continue
        if not isinstance(record, dict):
            problems.append(Problem(line=number, message="a JSONL line must be an object"))
            continue
        records.append(record)
    if problems:
        raise BadUpload(problems)
    # Every distinct key is a column of the frame: a few rows of many different keys would make it huge.
    _too_wide(len(set().union(*records)), max_columns, "distinct record keys")
    # Blank lines are skipped, so JSONL line numbers are only exact without them.
    return pd.DataFrame.from_records(records), 1


def _record_field(path: str | None) -> tuple[int | None, str | None]:
    """A path in a JSON list of records ("3.metadata.k") as its 1-based row and its field."""
    first, _, rest = (path or "").partition(".")
    return (int(first) + 1, rest or None) if first.isdigit() else (None, path)


def _records(frame: pd.DataFrame) -> list[dict]:
    # Empty cells are dropped rather than kept as None, so that a column one row lacks cannot
    # shadow the alias it does use ("response" absent, "answer" present).
    records = frame.astype(object).where(pd.notna(frame), None).to_dict(orient="records")
    return [{str(k): (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items() if v is not None}
            for r in records]


def _contexts_as_list(record: dict, separator: str | None) -> dict:
    """CSV cells hold contexts as a JSON list, or as text split by a separator."""
    for name in ALIASES["retrieved_contexts"]:
        value = record.get(name)
        if isinstance(value, str):
            stripped = value.strip()
            if stripped.startswith("["):
                try:
                    return {**record, name: json_text.loads(stripped)}
                except BadJSON as exc:
                    if not exc.malformed:  # JSON, but nothing a sample can hold: say so rather than keep it as text
                        field = f"{name}.{exc.field}" if exc.field else name
                        raise BadJSON(exc.message, field=field) from exc
            parts = stripped.split(separator) if separator else [stripped]
            return {**record, name: [p.strip() for p in parts if p.strip()]}
    return record
