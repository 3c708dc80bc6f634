"""The row browser's API: a batch's rows, filtered and paged (`/v1/batches/{id}/rows`), and one row whole."""
from __future__ import annotations

import asyncio
import math
import re
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, HTTPException, Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from ragmeter.metrics import METRIC_NAMES, Sample, SampleResult
from ragmeter.metrics.results import Scores

from ragmeter.service.metadata import MAX_KEY_CHARS
from ragmeter.service.rows import RowStatus
from ragmeter.service.server.api.batches import Store, Tenant, _job
from ragmeter.service.server.api.responses import errors
from ragmeter.service.server.batches import browse
from ragmeter.service.server.batches.browse import RowFilter, ScoreBound

router = APIRouter(prefix="/v1/batches", tags=["batches"])

MAX_LIMIT = 100
MAX_FILTERS = 20  # score and metadata conditions each; every one is a clause of the query
MAX_VALUE_CHARS = 10_000
_BOUND = re.compile(r"\s*([a-z_]+)\s*(<=|>=|<|>|=)\s*(\S+)\s*")


class RowSummary(BaseModel):
    """One row as the list shows it: previews of its texts, its scores, gate verdict and metadata."""

    row: int = Field(description="1-based position in the upload; GET .../rows/{row} gives the row whole.")
    id: str | int | None = None
    status: RowStatus
    user_input: str | None = Field(None, description=f"The question's first {browse.PREVIEW_CHARS} characters.")
    response: str | None = Field(None, description=f"The answer's first {browse.PREVIEW_CHARS} characters.")
    scores: Scores
    gate_passed: bool | None = None
    hallucination_score: float | None = None
    error: str | None = None
    metadata: dict[str, Any] = {}


class RowPage(BaseModel):
    total: int = Field(description="Rows matching the filters, on every page.")
    offset: int
    limit: int
    next_offset: int | None = Field(description="The next page's offset; null on the last page.")
    rows: list[RowSummary]


class BatchRow(BaseModel):
    """One row whole: the sample as stored and its result as /v1/evaluate gives it (claims, verdicts, evidence)."""

    row: int
    status: RowStatus
    error: str | None = None
    sample: Sample
    result: SampleResult | None = Field(None, description="Null while the row is pending or when scoring failed.")


def _invalid(field: str, message: str, value: object) -> NoReturn:
    raise RequestValidationError([{"type": "value_error", "loc": ("query", field), "msg": message, "input": value}])


def _bounds(values: list[str]) -> tuple[ScoreBound, ...]:
    if len(values) > MAX_FILTERS:
        _invalid("score", f"at most {MAX_FILTERS} score conditions", len(values))
    out = []
    for text in values:
        match = _BOUND.fullmatch(text)
        if match is None:
            _invalid("score", "write a condition as METRIC OP VALUE with OP one of <, <=, >, >=, =, "
                              "e.g. faithfulness<0.5", text)
        metric, op, number = match.groups()
        if metric not in METRIC_NAMES:
            _invalid("score", f"unknown metric {metric!r}; known: {', '.join(METRIC_NAMES)}", text)
        try:
            value = float(number)
        except ValueError:
            _invalid("score", f"{number!r} is not a number", text)
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            _invalid("score", "scores are between 0 and 1: the value must be too", text)
        out.append(ScoreBound(metric, op, value))
    return tuple(out)


def _metadata(values: list[str]) -> tuple[tuple[str, str], ...]:
    if len(values) > MAX_FILTERS:
        _invalid("metadata", f"at most {MAX_FILTERS} metadata conditions", len(values))
    out = []
    for text in values:
        key, equals, value = text.partition("=")
        if not equals or not key:
            _invalid("metadata", "write a condition as KEY=VALUE, e.g. topic=billing", text)
        if len(key) > MAX_KEY_CHARS or '"' in key or "\\" in key:
            _invalid("metadata", f"a key is at most {MAX_KEY_CHARS} characters, without '\"' or '\\'", text)
        if len(value) > MAX_VALUE_CHARS:
            _invalid("metadata", f"a value is at most {MAX_VALUE_CHARS} characters", text[:100] + "...")
        out.append((key, value))
    return tuple(out)


SORT_PATTERN = f"^-?({'|'.join(METRIC_NAMES)})$"


@router.get("/{batch_id}/rows", responses=errors(401, 404, 429))
async def list_rows(
    store: Store, tenant: Tenant, batch_id: str,
    gate: Annotated[Literal["pass", "fail"] | None, Query(description="Only rows whose gate passed, or failed.")]
    = None,
    status: Annotated[RowStatus | None, Query(description="Only rows in this state.")] = None,
    score: Annotated[list[str] | None, Query(description="A score condition, e.g. `faithfulness<0.5` (repeat "
                                                         "for several); a null score never matches.")] = None,
    metadata: Annotated[list[str] | None, Query(description="A metadata condition `key=value` (repeat for "
                                                            "several); values compare as text (3, true).")] = None,
    sort: Annotated[str | None, Query(pattern=SORT_PATTERN, description="A metric, lowest first (`-metric`: "
                                      "highest first), nulls last; input order when omitted.")] = None,
    offset: Annotated[int, Query(ge=0, le=100_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 25,
) -> RowPage:
    """A page of the batch's rows matching every filter given, in input order (or by `sort`)."""
    where = RowFilter(gate=None if gate is None else gate == "pass", status=status, scores=_bounds(score or []),
                      metadata=_metadata(metadata or []), sort=sort)
    job = await _job(store, batch_id, tenant)
    total, page = await asyncio.to_thread(browse.browse, store.sync, job.id, where, offset, limit)
    rows = [RowSummary(row=r.index + 1, id=r.id, status=RowStatus(r.status), user_input=r.user_input,
                       response=r.response, scores=Scores(**r.scores), gate_passed=r.gate_passed,
                       hallucination_score=r.hallucination_score, error=r.error, metadata=r.metadata)
            for r in page]
    following = offset + len(rows)
    return RowPage(total=total, offset=offset, limit=limit, rows=rows,
                   next_offset=following if following < total and rows else None)


@router.get("/{batch_id}/rows/{row}", responses=errors(401, 404, 429))
async def get_row(store: Store, tenant: Tenant, batch_id: str,
                  row: Annotated[int, Path(ge=1, le=100_000_000)]) -> BatchRow:
    """One row whole: question, contexts, answer, and its result with each claim's verdict and evidence quote."""
    job = await _job(store, batch_id, tenant)
    found = await asyncio.to_thread(store.sync.rows_at, job.id, [row - 1])
    if not found:
        raise HTTPException(404, f"no row {row} in batch {batch_id} (it has {job.total})")
    stored = found[0]
    result = SampleResult.model_validate(stored.result) if stored.result is not None else None
    return BatchRow(row=row, status=RowStatus(stored.status), error=stored.error, sample=stored.to_sample(),
                    result=result)
