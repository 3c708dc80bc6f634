"""POST /v1/traces: OTLP/HTTP trace export, so an OpenTelemetry exporter pointed at ragmeter's base URL sends it
its apps' traces; each whole trace becomes a production record, accepted as POST /v1/records accepts one."""
from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from sqlalchemy.exc import OperationalError

from ragmeter.service.server.api.responses import ErrorBody, errors
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.server.traffic import otlp
from ragmeter.service.server.traffic.assembly import TraceAssembler, hand_over
from ragmeter.service.server.traffic.ingest import accept

log = logging.getLogger("ragmeter.otlp")
router = APIRouter(prefix="/v1", tags=["traces"], dependencies=[Depends(get_tenant)])

BODY = {"content": {otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                    otlp.JSON: {"schema": {"type": "object"}}},
        "description": "An OTLP ExportTraceServiceRequest, protobuf or OTLP/JSON, optionally gzip-compressed."}
ANSWER = {"content": {otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                      otlp.JSON: {"schema": {"type": "object"}}},
          "description": "An ExportTraceServiceResponse in the request's encoding; its partial_success counts the "
                         "spans not turned into records, and why."}


REFUSED: dict[int | str, dict] = {
    400: {"model": ErrorBody, "description": "The body is not an ExportTraceServiceRequest (or not gzip data when "
                                             "it says so); nothing was kept."},
    415: {"model": ErrorBody, "description": "Neither application/x-protobuf nor application/json, or a "
                                             "Content-Encoding other than gzip."},
    503: {"model": ErrorBody, "description": "The database could not stage the spans (nothing was kept), or no "
                                             "judge is configured; Retry-After when known."},
}


@router.post("/traces", responses={200: ANSWER, **errors(401, 413, 429), **REFUSED},
             openapi_extra={"requestBody": BODY})
async def export_traces(request: Request, tenant: Annotated[str | None, Depends(get_tenant)]) -> Response:
    """Turns each trace whose root span arrived into a record (question, contexts, answer); see docs/otlp.md."""
    settings = request.app.state.settings
    body = await request.body()
    try:
        message = otlp.decode(body, request.headers.get("content-type"), request.headers.get("content-encoding"),
                              max_bytes=settings.max_upload_mb * 1024 * 1024)
    except otlp.BadPayload as exc:
        raise HTTPException(415 if exc.unsupported else 400, str(exc)) from exc
    assembler: TraceAssembler = request.app.state.traces
    try:
        # The rootless spans staged (durable before the 200), the staged spans of the rooted traces read; then the
        # records stored with their traces' claims, in one transaction.
        collected = await asyncio.to_thread(assembler.collect, tenant, otlp.spans_of(message))
        await hand_over(assembler, request, tenant, collected, accept)
    except OperationalError as exc:  # the database is away for a moment: exporters retry a 503, never a 500
        log.warning("could not stage OTLP spans: %s", str(exc).splitlines()[0])
        raise HTTPException(503, "the database could not stage the spans; retry", headers={"Retry-After": "1"}) \
            from exc
    as_json = otlp.media_type(request.headers.get("content-type")) == otlp.JSON
    return Response(otlp.response(sum(collected.rejected.values()), collected.message(), as_json),
                    media_type=otlp.JSON if as_json else otlp.PROTOBUF)
