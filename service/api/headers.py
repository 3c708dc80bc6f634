"""Per-request plumbing: a request id, the browser security headers, and request metrics."""
from __future__ import annotations

import time
import uuid

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse

from .. import logs

# The web page and the report load nothing from elsewhere; the page's script and styles are inline.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _too_large(request: Request) -> JSONResponse | None:
    """413 before the body is read when its declared length is over the upload limit (plus form overhead)."""
    limit = request.app.state.settings.max_upload_mb * 1024 * 1024 + 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return JSONResponse({"detail": f"request larger than RAGMETER_MAX_UPLOAD_MB="
                                       f"{request.app.state.settings.max_upload_mb}"}, status_code=413)
    return None


class RequestHeaders(BaseHTTPMiddleware):
    """Takes the caller's X-Request-ID (or makes one), exposes it on request.state, echoes it back; counts the request."""

    async def dispatch(self, request: Request, call_next):
        request_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
        request.state.request_id = request_id
        logs.request_id.set(request_id)
        started = time.perf_counter()
        response = _too_large(request) or await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")  # the template, not the batch id
        telemetry = request.app.state.telemetry
        telemetry.requests.labels(request.method, route, str(response.status_code)).inc()
        telemetry.latency.labels(request.method, route).observe(time.perf_counter() - started)
        response.headers["X-Request-ID"] = request_id
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
