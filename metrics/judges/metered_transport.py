"""An httpx transport for judges whose calls a library makes for us (ragas): cap, cache and count every call.

The library builds its own requests, so the judge's usual guards sit one layer lower, on the HTTP
requests themselves: one cap on requests in flight for the process, a reply cache keyed by the
exact request, and `usage` counted from each reply's own token counts into the sample that is
being scored (a context variable, so samples scored side by side never mix their counts).

ragas asks the same prompt several times on purpose (answer relevancy's questions): within one
sample the n-th identical request has its own cache entry, so the cache replays a sample's calls
one for one instead of collapsing them into one.
"""
from __future__ import annotations

import asyncio
import json
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field

import httpx

from ..judgements import Usage
from .cache import ReplyCache, request_key


@dataclass
class Meter:
    """One sample's account: its usage, and how often each request was made so far."""

    usage: Usage
    asked: Counter = field(default_factory=Counter)


current_meter: ContextVar[Meter | None] = ContextVar("ragmeter_current_meter", default=None)
# Headers that describe the body as it came over the wire, not as it is handed on (already decoded).
_WIRE_HEADERS = ("content-encoding", "content-length", "transfer-encoding")


class MeteredTransport(httpx.AsyncBaseTransport):
    def __init__(self, slots: asyncio.Semaphore, cache: ReplyCache,
                 inner: httpx.AsyncBaseTransport | None = None):
        self.slots, self.cache = slots, cache
        self.inner = inner or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        kind = _kind(request)
        if kind is None:
            return await self.inner.handle_async_request(request)
        body = await request.aread()
        meter = current_meter.get()
        payload = {"path": request.url.path, "body": json.loads(body or b"{}")}
        if meter is not None:
            repeat = request_key(payload)
            payload["repeat"] = meter.asked[repeat]
            meter.asked[repeat] += 1
        key = request_key(payload)
        usage = meter.usage if meter is not None else None
        if (hit := self.cache.get(key)) is not None:
            if usage is not None:
                usage.cached_calls += 1
            return httpx.Response(200, headers={"content-type": "application/json"}, content=hit.encode(),
                                  request=request)
        async with self.slots:
            response = await self.inner.handle_async_request(request)
            content = await response.aread()
        await response.aclose()
        if response.status_code == 200:
            reply = content.decode("utf-8", errors="replace")
            if usage is not None:
                _count(kind, reply, usage)
            self.cache.put(key, reply)
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _WIRE_HEADERS]
        return httpx.Response(response.status_code, headers=headers, content=content, request=request,
                              extensions=response.extensions)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _kind(request: httpx.Request) -> str | None:
    path = request.url.path
    if request.method != "POST":
        return None
    return "chat" if path.endswith("/chat/completions") else "embedding" if path.endswith("/embeddings") else None


def _count(kind: str, reply: str, usage: Usage) -> None:
    try:
        tokens = json.loads(reply).get("usage") or {}
    except (ValueError, AttributeError):
        tokens = {}
    if kind == "chat":
        usage.chat_calls += 1
        usage.prompt_tokens += tokens.get("prompt_tokens") or 0
        usage.completion_tokens += tokens.get("completion_tokens") or 0
    else:
        usage.embedding_calls += 1
        usage.embedding_tokens += tokens.get("prompt_tokens") or 0
