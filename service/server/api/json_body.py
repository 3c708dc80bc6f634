"""JSON request bodies read through service/json_text, so a bad value is a 422 naming its field, as in uploads.

FastAPI's own reading answers a 400 "There was an error parsing the body" for an integer of 4,400 digits or a lone
surrogate, naming nothing.
"""
from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from ragmeter.service import json_text


class JSONTextRoute(APIRoute):
    """A route whose JSON body is parsed by json_text before FastAPI validates it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def read_then_handle(request: Request) -> Response:
            if request.headers.get("content-type", "").split(";")[0].strip().endswith("json"):
                body = await request.body()
                if body:
                    try:
                        # Starlette caches the parsed body here: FastAPI's request.json() returns it as is.
                        request._json = json_text.loads(body.decode("utf-8", errors="surrogatepass"))
                    except (json_text.BadJSON, UnicodeDecodeError) as exc:
                        field = getattr(exc, "field", None)
                        loc = ("body", *(int(p) if p.isdigit() else p for p in field.split("."))) if field \
                            else ("body",)
                        raise RequestValidationError([{"type": "json_invalid", "loc": loc, "input": None,
                                                       "msg": getattr(exc, "message", str(exc))}]) from exc
            return await handle(request)

        return read_then_handle
