"""Per-request plumbing: a request id, the browser security headers, and request metrics."""
from __future__ import annotations

import time
import uuid

from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragmeter.service import logs

# The web page and the report load nothing from elsewhere; the page's script and styles are inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class BodyLimit:
    """413 for a body over RAGMETER_MAX_UPLOAD_MB: from its declared length before it is read, else as it streams in.

    So a chunked upload of any size is cut off at the limit rather than spooled to disk whole.
    """

    def __init__(self, app: ASGIApp, max_upload_mb: int):
        self.app = app
        self.limit = (max_upload_mb + 1) * 1024 * 1024  # the file plus its form fields
        self.message = f"request larger than RAGMETER_MAX_UPLOAD_MB={max_upload_mb}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            return await JSONResponse({"detail": self.message}, status_code=413)(scope, receive, send)
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise HTTPException(413, self.message)
            return message

        await self.app(scope, counted, send)


class RequestHeaders(BaseHTTPMiddleware):
    """Takes the caller's X-Request-ID (or makes one), puts it on request.state, echoes it back; counts the request."""

    async def dispatch(self, request: Request, call_next):
        request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = request_id
        logs.request_id.set(request_id)
        started = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")  # the template, not the batch id
        telemetry = request.app.state.telemetry
        telemetry.requests.labels(request.method, route, str(response.status_code)).inc()
        telemetry.latency.labels(request.method, route).observe(time.perf_counter() - started)
        response.headers["X-Request-ID"] = request_id
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
