"""A page of a job's rows for the row browser, filtered and counted inside the database.

Filters read the stored sample and result JSON with SQL (SQLite and PostgreSQL alike), so a page of a
large job never loads its other rows, and a listed row never loads its contexts: only a short preview of
its question and answer, its scores, gate verdict and metadata.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, and_, case, cast, func, select

from ragmeter.metrics import METRIC_NAMES

from ragmeter.service.rows import RowStatus
from ragmeter.service.server.batches.store import Row, Store

PREVIEW_CHARS = 300
OPERATORS = ("<=", ">=", "<", ">", "=")


@dataclass(frozen=True)
class ScoreBound:
    """`metric op value`, e.g. faithfulness < 0.5; a row whose score is null never matches."""

    metric: str
    op: str
    value: float


@dataclass(frozen=True)
class RowFilter:
    gate: bool | None = None  # True: the gate passed; False: it failed
    status: RowStatus | None = None
    scores: tuple[ScoreBound, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()  # (key, value as the slice tables print it)
    sort: str | None = None  # a metric, lowest first; "-metric" highest first; None: input order


@dataclass
class Listed:
    """One row as the list shows it."""

    index: int
    id: str | int | None
    status: str
    user_input: str | None
    response: str | None
    scores: dict[str, float | None]
    gate_passed: bool | None
    hallucination_score: float | None
    error: str | None
    metadata: dict[str, Any]


def score(metric: str) -> ColumnElement[Any]:
    return Row.result["scores"][metric].as_float()


def gate_text(dialect: str) -> ColumnElement[Any]:
    """The gate verdict as 'true', 'false' or NULL (not yet scored, or an error)."""
    if dialect == "sqlite":  # json_extract gives true as 1; json_type names it
        return func.json_type(Row.result, "$.gate.passed")
    return Row.result[("gate", "passed")].as_string()  # ->> gives a boolean's JSON text


def metadata_text(dialect: str, key: str) -> ColumnElement[Any]:
    """The row's metadata value for `key` as text, written as `metadata.value_label` writes it ("3", "true")."""
    if dialect == "sqlite":
        # json_extract gives true as 1: json_type tells booleans apart. Keys never hold '"' (the API refuses it).
        path = f'$.metadata."{key}"'
        kind = func.json_type(Row.sample, path)
        return case((kind == "true", "true"), (kind == "false", "false"),
                    else_=cast(func.json_extract(Row.sample, path), String))
    return Row.sample[("metadata", key)].as_string()  # ->> gives a scalar's JSON text, strings unquoted


def _compare(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    return {"<": column < value, "<=": column <= value, ">": column > value, ">=": column >= value,
            "=": column == value}[op]


def conditions(dialect: str, job_id: str, where: RowFilter) -> list[ColumnElement[bool]]:
    out: list[ColumnElement[bool]] = [Row.job_id == job_id]
    if where.status is not None:
        out.append(Row.status == where.status)
    if where.gate is not None:
        out.append(gate_text(dialect) == ("true" if where.gate else "false"))
    out += [_compare(score(b.metric), b.op, b.value) for b in where.scores]
    out += [metadata_text(dialect, key) == value for key, value in where.metadata]
    return out


def browse(store: Store, job_id: str, where: RowFilter, offset: int, limit: int) -> tuple[int, list[Listed]]:
    """How many of the job's rows match, and the page of them from `offset` (call it off the event loop)."""
    dialect = store.engine.dialect.name
    matching = and_(*conditions(dialect, job_id, where))
    order: list[Any] = [Row.index]
    if where.sort:
        column = score(where.sort.lstrip("-"))
        order.insert(0, (column.desc() if where.sort.startswith("-") else column.asc()).nulls_last())
    # The page's row numbers first, then their columns: sorting or skipping past rows never extracts their texts.
    # The count rides along as a window, so the filters read each row once (a second scan only past the end).
    numbers = (select(Row.index, func.count().over()).where(matching).order_by(*order).offset(offset).limit(limit))
    scores = [score(name).label(name) for name in METRIC_NAMES]
    with store.session() as s:
        counted = s.execute(numbers).all()
        indices = [index for index, _ in counted]
        total = counted[0][1] if counted else 0
        if not counted and offset:
            total = s.scalar(select(func.count()).select_from(Row).where(matching)) or 0
        columns = (select(Row.index.label("position"), Row.status, Row.error, Row.sample["id"].label("id"),
                          func.substr(Row.sample["user_input"].as_string(), 1, PREVIEW_CHARS + 1).label("question"),
                          func.substr(Row.sample["response"].as_string(), 1, PREVIEW_CHARS + 1).label("answer"),
                          Row.sample["metadata"].label("metadata"), gate_text(dialect).label("passed"),
                          Row.result["gate"]["hallucination_score"].as_float().label("hallucination"), *scores)
                   .where(Row.job_id == job_id, Row.index.in_(indices)))
        found = {r.position: r for r in s.execute(columns)} if indices else {}
    page = [Listed(index=r.position, id=r.id, status=r.status, user_input=preview(r.question),
                   response=preview(r.answer), scores={m: getattr(r, m) for m in METRIC_NAMES},
                   gate_passed=None if r.passed is None else r.passed == "true", hallucination_score=r.hallucination,
                   error=preview(r.error), metadata=r.metadata or {})
            for r in (found[i] for i in indices)]
    return total, page


def preview(text: str | None) -> str | None:
    """The first PREVIEW_CHARS characters, with an ellipsis when there was more."""
    if text is None or len(text) <= PREVIEW_CHARS:
        return text
    return text[:PREVIEW_CHARS] + "…"
