"""GET /v1/metrics: the metrics this service computes."""
from __future__ import annotations

from fastapi import APIRouter, Depends

from ragmeter.metrics.catalog import CATALOG, MetricInfo

from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.api.responses import errors

router = APIRouter(prefix="/v1", tags=["metrics"], dependencies=[Depends(get_tenant)])


@router.get("/metrics", responses=errors(401, 429))
async def list_metrics() -> list[MetricInfo]:
    """Names, definitions, required fields and the reasons a score can be null."""
    return CATALOG
