"""Error responses: a 422 that always renders, and no stack trace to clients for anything unforeseen."""
from __future__ import annotations

import json
import logging

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

log = logging.getLogger("ragmeter.api")


def install(app: FastAPI) -> None:
    # Starlette types every handler as taking any Exception; it calls this one only with RequestValidationError.
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, unexpected_error)


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's 422 shape, with inputs that JSON cannot carry (NaN, lone surrogates) shown as their repr."""
    return JSONResponse({"detail": [_renderable(e) for e in exc.errors()]}, status_code=422)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """A 500 that names the request id to quote; the trace goes to the log only."""
    request_id = getattr(request.state, "request_id", None)
    log.exception("unhandled error on %s %s (request %s)", request.method, request.url.path, request_id)
    return JSONResponse({"detail": "internal error; quote the request id when reporting it",
                         "request_id": request_id}, status_code=500,
                        headers={"X-Request-ID": request_id} if request_id else None)


def _renderable(error: dict) -> dict:
    error = dict(error)
    error.pop("url", None)
    for key in ("input", "ctx"):
        if key in error:
            try:
                value = jsonable_encoder(error[key])
                json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
                error[key] = value
            except (TypeError, ValueError, UnicodeEncodeError):
                error[key] = repr(error[key])[:500].encode("ascii", "backslashreplace").decode()
    return error
