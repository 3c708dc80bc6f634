"""Time limits for slow or stalled clients: request headers (a uvicorn protocol) and request bodies (ASGI middleware).

Without them a client that sends half a request line, or a body shorter than its Content-Length, holds a
connection (and, for a body, a request task) for as long as it likes.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from ragmeter.service.settings import Settings

log = logging.getLogger("ragmeter.slow_clients")


class HeaderTimeoutProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing a connection whose client owes bytes no one is waiting on for too long.

    That is: a new connection, or a request whose first bytes came, without complete headers after
    `header_timeout_s`; or a body left unread (the response already sent) still arriving after as long.
    An idle keep-alive connection between requests is left to uvicorn's own keep-alive timeout.
    """

    header_timeout_s = 10.0
    _deadline: asyncio.TimerHandle | None = None
    _served = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch()

    def on_response_complete(self) -> None:
        self._served = True
        super().on_response_complete()
        self._watch()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _watch(self) -> None:
        """Arm the deadline when the client starts owing bytes; disarm it once it no longer does."""
        if self.transport.is_closing():
            return self._disarm()
        theirs = self.conn.their_state
        # h11 keeps an incomplete request head in its buffer; a fresh connection owes its first request.
        heading = theirs is h11.IDLE and (not self._served or bool(self.conn.trailing_data[0]))
        unread_body = theirs is h11.SEND_BODY and self.conn.our_state in (h11.DONE, h11.MUST_CLOSE)
        if not (heading or unread_body):
            self._disarm()
        elif self._deadline is None:  # the limit is on the whole head, not between its bytes
            self._deadline = self.loop.call_later(self.header_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.info("closed a connection from %s: no complete request headers within %g s",
                     self.client[0] if self.client else "?", self.header_timeout_s)
            self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutProtocol]:
    """The protocol class for uvicorn's `http=` option, with this header timeout."""
    return type("HeaderTimeoutProtocol", (HeaderTimeoutProtocol,), {"header_timeout_s": seconds})


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.run / uvicorn.Config options for the connection timeouts: keep-alive, and headers (on the h11
    protocol, which uvicorn also picks without httptools)."""
    # uvicorn annotates the keep-alive as int but takes seconds as a float (asyncio timers).
    return {"http": header_timeout_protocol(settings.header_timeout_s), "timeout_keep_alive": settings.keep_alive_s}


class BodyTimeout:
    """408 (and the connection closed) for a request body that stalls: no new bytes for `idle_s` seconds.

    The limit is between chunks, not on the whole body, so a large upload at any steady speed goes through.
    Once the body is complete, `receive` is passed through untouched (it then only waits for a disconnect).
    """

    def __init__(self, app: ASGIApp, idle_s: float):
        self.app = app
        self.idle_s = idle_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        complete = False

        async def timed() -> Message:
            nonlocal complete
            if complete:
                return await receive()
            try:
                async with asyncio.timeout(self.idle_s):  # no task per chunk, unlike wait_for
                    message = await receive()
            except TimeoutError:
                log.info("request body stalled: no bytes for %g s on %s %s", self.idle_s, scope["method"],
                         scope["path"])
                # Connection: close, as the rest of the body may still come and cannot be told from a new request.
                raise HTTPException(408, f"request body stalled: no bytes for RAGMETER_BODY_TIMEOUT_S="
                                         f"{self.idle_s:g} s", headers={"Connection": "close"}) from None
            complete = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed, send)
