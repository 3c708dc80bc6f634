"""Client side of the streaming guard (/v1/guard): wraps an app's answer stream so that it stops at an unsupported
sentence.

    for text in guard(stream, question, contexts, url="http://127.0.0.1:8000", api_key=KEY):
        print(text, end="")

`stream` is what the OpenAI SDK's `chat.completions.create(..., stream=True)` returns (chunks with
`choices[0].delta.content`), or any iterable of such chunks or of plain strings; `aguard` takes the async
variants. Each delta is forwarded to the guard as it arrives; the app gets text only up to the end of the
last sentence that passed, so the sentence being checked is held back. At the first sentence that fails
(under `stop_on`) the iteration ends quietly, with `.stopped` set to the guard's stop message, and the
upstream stream is closed; pass `raise_on_stop=True` to get `GuardStopped` instead.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import connect as aconnect
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

StopOn = Literal["unsupported", "contradicted", "never"]
PATH = "/v1/guard"


class GuardError(RuntimeError):
    """The guard refused the stream (its error message) or the connection ended before the final verdict."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class GuardStopped(Exception):  # noqa: N818 - a stop is the guard working, not a failure of it
    """Raised (with raise_on_stop=True) at the first sentence that failed; `.stop` and `.sentence` are the messages."""

    def __init__(self, stop: dict, sentence: dict | None):
        super().__init__(f"sentence {stop['index']} stopped: {stop.get('reason', '')}")
        self.stop, self.sentence = stop, sentence


def guard_url(url: str) -> str:
    """The WebSocket URL of /v1/guard from the service's base URL (http(s)://host:port) or a ws(s):// URL."""
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path if parts.path.endswith(PATH) else parts.path.rstrip("/") + PATH
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def delta_text(chunk: Any) -> str:
    """The text of one stream chunk: an OpenAI SDK ChatCompletionChunk, its dict form, or a plain string."""
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, dict):
        choices = chunk.get("choices") or []
        return ((choices[0].get("delta") or {}).get("content") or "") if choices else ""
    choices = getattr(chunk, "choices", None) or []
    delta = getattr(choices[0], "delta", None) if choices else None
    return getattr(delta, "content", None) or ""


class _Guard:
    """What both variants share: the messages, the answer so far, and which part of it may be shown."""

    def __init__(self, question: str, contexts: list[str], url: str, api_key: str | None, gate: dict | None,
                 stop_on: StopOn, raise_on_stop: bool, timeout: float):
        self.url, self.timeout, self.raise_on_stop, self.stop_on = guard_url(url), timeout, raise_on_stop, stop_on
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        start: dict[str, Any] = {"type": "start", "question": question, "contexts": list(contexts),
                                 "stop_on": stop_on}
        if gate is not None:
            start["gate"] = gate
        self.start = json.dumps(start)
        self.answer = ""
        self.released = 0  # characters of the answer handed to the app
        self.sentences: list[dict] = []  # every sentence verdict, in order
        self.stopped: dict | None = None  # the stop message, when the guard stopped the answer
        self.final: dict | None = None  # the final message: the gate and faithfulness of what was judged

    def _handle(self, raw: str | bytes) -> str:
        """Take one server message; the text it releases to the app ('' for none)."""
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "error":
            raise GuardError(message.get("message", "refused"), message.get("field"))
        if kind == "sentence":
            self.sentences.append(message)
            if not _fails(message["verdict"], self.stop_on):
                return self._release(message["end"])
        elif kind == "stop":
            self.stopped = message
        elif kind == "final":
            self.final = message
            if self.stopped is None:
                return self._release(len(self.answer))
        return ""

    def _release(self, end: int) -> str:
        text, self.released = self.answer[self.released:end], max(self.released, end)
        return text

    def _finished(self) -> None:
        if self.final is None:
            raise GuardError("the guard closed the connection before its final verdict")
        if self.stopped is not None and self.raise_on_stop:
            failing = next((s for s in self.sentences if s["index"] == self.stopped["index"]), None)
            raise GuardStopped(self.stopped, failing)


def _fails(verdict: str, stop_on: StopOn) -> bool:
    return stop_on != "never" and (verdict == "contradicted" or (stop_on == "unsupported" and verdict != "supported"))


class Guarded(_Guard):
    """The guarded text of a synchronous stream; iterate once. `.stopped`, `.sentences`, `.final` after."""

    def __init__(self, stream: Iterable[Any], *args: Any):
        super().__init__(*args)
        self.stream = stream

    def __iter__(self) -> Iterator[str]:
        try:
            with connect(self.url, additional_headers=self.headers, open_timeout=self.timeout, proxy=None,
                         compression=None) as ws:
                try:
                    yield from self._exchange(ws)
                except ConnectionClosed:
                    yield from self._rest(ws)  # the guard closed: what it said before (an error, the final)
                finally:
                    if self.stopped is not None:
                        _close(self.stream)
        except ConnectionClosed:
            pass  # closing a connection the guard had already closed
        self._finished()

    def _exchange(self, ws: Any) -> Iterator[str]:
        ws.send(self.start)
        for chunk in self.stream:
            if text := delta_text(chunk):
                self.answer += text
                ws.send(json.dumps({"type": "delta", "text": text}))
            yield from self._ready(ws)
            if self.stopped is not None or self.final is not None:
                break
        else:
            ws.send('{"type": "end"}')
        while self.final is None:
            try:
                raw = ws.recv(timeout=self.timeout)
            except TimeoutError:
                raise GuardError(f"no message from the guard for {self.timeout:g} s") from None
            if text := self._handle(raw):
                yield text

    def _rest(self, ws: Any) -> Iterator[str]:
        with contextlib.suppress(ConnectionClosed, TimeoutError):
            while self.final is None:
                if text := self._handle(ws.recv(timeout=0)):
                    yield text

    def _ready(self, ws: Any) -> Iterator[str]:
        """The text released by the messages already received (without waiting)."""
        while True:
            try:
                raw = ws.recv(timeout=0)
            except TimeoutError:
                return
            if text := self._handle(raw):
                yield text


def _close(stream: Any) -> None:
    close = getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()


class AsyncGuarded(_Guard):
    """The guarded text of an async stream (`async for`); `.stopped`, `.sentences`, `.final` after."""

    def __init__(self, stream: AsyncIterable[Any], *args: Any):
        super().__init__(*args)
        self.stream = stream

    async def __aiter__(self) -> AsyncIterator[str]:
        async with aconnect(self.url, additional_headers=self.headers, open_timeout=self.timeout, proxy=None,
                            compression=None) as ws:
            await ws.send(self.start)
            pump = asyncio.create_task(self._pump(ws))
            try:
                while self.final is None:
                    try:
                        raw = await asyncio.wait_for(ws.recv(), self.timeout if pump.done() else None)
                    except (ConnectionClosed, TimeoutError):
                        break
                    if text := self._handle(raw):
                        yield text
                    if self.stopped is not None:
                        pump.cancel()
            finally:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await pump
                if self.stopped is not None:
                    await _aclose(self.stream)
        self._finished()

    async def _pump(self, ws: Any) -> None:
        async for chunk in self.stream:
            if text := delta_text(chunk):
                self.answer += text  # before sending: a verdict's offsets always fall inside what is here
                await ws.send(json.dumps({"type": "delta", "text": text}))
        await ws.send('{"type": "end"}')


async def _aclose(stream: Any) -> None:
    close = getattr(stream, "aclose", None) or getattr(stream, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            result = close()
            if asyncio.iscoroutine(result):
                await result


def guard(stream: Iterable[Any], question: str, contexts: list[str], *, url: str, api_key: str | None = None,
          gate: dict | None = None, stop_on: StopOn = "unsupported", raise_on_stop: bool = False,
          timeout: float = 30.0) -> Guarded:
    """Guard a synchronous answer stream: iterate the result for the text that passed (see the module docstring)."""
    return Guarded(stream, question, contexts, url, api_key, gate, stop_on, raise_on_stop, timeout)


def aguard(stream: AsyncIterable[Any], question: str, contexts: list[str], *, url: str, api_key: str | None = None,
           gate: dict | None = None, stop_on: StopOn = "unsupported", raise_on_stop: bool = False,
           timeout: float = 30.0) -> AsyncGuarded:
    """Guard an async answer stream: `async for text in aguard(...)`, as `guard`."""
    return AsyncGuarded(stream, question, contexts, url, api_key, gate, stop_on, raise_on_stop, timeout)
