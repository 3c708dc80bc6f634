"""GET /v1/metrics: the metrics this service computes."""
from __future__ import annotations

from fastapi import APIRouter

from ragmeter.metrics.catalog import CATALOG, MetricInfo

router = APIRouter(prefix="/v1", tags=["metrics"])


@router.get("/metrics")
async def list_metrics() -> list[MetricInfo]:
    """Names, definitions, required fields and the reasons a score can be null."""
    return CATALOG
