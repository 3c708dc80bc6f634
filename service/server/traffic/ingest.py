"""Accepting production records: sampled, bounded, stored durably before the 202, then scored in the background.

The ingestion work of issue #21 fills in `accept`; /v1/records and /v1/traces both call it.
"""
from __future__ import annotations

from datetime import datetime

from fastapi import Request
from pydantic import BaseModel, Field

from ragmeter.metrics import Sample


class RecordIn(Sample):
    """One production answer: the sample's fields, plus when it happened, its trace and the app that answered."""

    timestamp: datetime | None = Field(default=None, description="When the app answered; when it was received "
                                                                  "if omitted. Charts and alerts bucket by it.")
    trace_id: str | None = Field(default=None, max_length=64, description="The trace it came from (OTLP), if any.")
    app: str | None = Field(default=None, max_length=128, description="Which app answered; the request's `app` "
                                                                      "when omitted, else \"default\".")


class Accepted(BaseModel):
    """What POST /v1/records (and /v1/traces) accepted: stored records' ids, and what was not stored and why."""

    accepted: int
    ids: list[str]
    sampled_out: int = 0
    duplicates: int = 0


async def accept(request: Request, tenant: str | None, records: list[RecordIn], app: str | None = None) -> Accepted:
    """Sample, check the backlog (429 with Retry-After when full), store durably, wake the runner; what was stored."""
    raise NotImplementedError("filled in by the ingestion work of issue #21")
