"""The error responses each route documents in OpenAPI, all in FastAPI's {"detail": ...} shape."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    detail: str | dict[str, Any] = Field(description="What went wrong; for a refused upload, a message and its "
                                                     "problems, each with its row.")


WHY = {
    400: "The uploaded file was not accepted; nothing was stored.",
    401: "An API key is required (keys are configured).",
    404: "No such batch (or it belongs to another tenant).",
    409: "The batch is queued or running: cancel it (DELETE without purge) before deleting it.",
    413: "Too large: the request body, or more samples or rows than a limit allows.",
    429: "A per-key limit was reached; Retry-After says when to try again.",
    503: "No judge is configured, or its circuit breaker is open; Retry-After when known.",
}


def errors(*codes: int, page: bool = False) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting these status codes; `page`: the route answers HTML, its errors JSON."""
    if page:  # FastAPI would file the error model under the route's own media type, text/html
        return {code: {"description": WHY[code], "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorBody"}}}} for code in codes}
    return {code: {"model": ErrorBody, "description": WHY[code]} for code in codes}
