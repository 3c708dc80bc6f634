"""WebSocket /v1/guard: judge each sentence of an answer while it streams (docs/guard.md has the protocol).

Client -> server: start (question, contexts, gate?, stop_on?), delta (text) as tokens arrive, end. Server ->
client: a sentence verdict as soon as each sentence is complete, stop at the first sentence that fails
under `stop_on`, and final (the gate over every sentence). Bad input gets an error message naming the field,
then a close code; never a crash.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, WebSocket, WebSocketDisconnect
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from ragmeter.metrics import GateConfig, Sample
from ragmeter.metrics.judgements import ClaimVerdict, Usage
from ragmeter.metrics.judges.cascade import Band, CascadeJudge
from ragmeter.metrics.judges.embedded.claims import ClaimText
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.protocol import Judge
from ragmeter.metrics.judges.registry import is_engine
from ragmeter.metrics.streaming import (Sentence, SentenceBuffer, StopOn, StreamContext, escalate, final,
                                        sentence_verdict, stops)

from ragmeter.service import json_text
from ragmeter.service.judge_setup import NO_JUDGE
from ragmeter.service.limits import Budget, limit_problems
from ragmeter.service.server.guard_worker import GuardWorker, default_workers, guard_judge
from ragmeter.service.server.tenancy import get_tenant
from ragmeter.service.settings import Settings

router = APIRouter(prefix="/v1", tags=["guard"])
log = logging.getLogger("ragmeter.guard")

# WebSocket close codes (RFC 6455): what a client can tell apart without reading the error message.
POLICY = 1008  # no valid API key; idle too long
BAD_DATA = 1007  # a message that is not valid JSON, of an unknown type, out of order, or with a bad field
TOO_BIG = 1009  # contexts or answer over the service's size limits
TRY_LATER = 1013  # too many guard sessions open; the key's rate limit; the judge's breaker is open
SERVER_ERROR = 1011  # the judge failed or none is configured
# Characters (two or three words) the streaming sentence grows by before its candidates are looked up again.
PREFETCH_EVERY = 12
_FIELDS = {"user_input": "question", "retrieved_contexts": "contexts", "response": "text"}


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: Any) -> Any:
    # "\ud800" parses from JSON but cannot be sent back as UTF-8 (in a sentence message): refuse it on the way in.
    if any(isinstance(t, str) and _SURROGATE.search(t) for t in (value if isinstance(value, list) else [value])):
        raise ValueError("holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text")
    return value


class Start(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["start"]
    question: Annotated[str, Field(min_length=1), AfterValidator(_text)]
    contexts: Annotated[list[str], Field(min_length=1), AfterValidator(_text)]
    gate: GateConfig | None = None
    stop_on: StopOn = "unsupported"


class Delta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["delta"]
    text: Annotated[str, AfterValidator(_text)]


class Problem(Exception):
    """Ends a session: an error message naming the field, then the close code."""

    def __init__(self, field: str | None, message: str, code: int = BAD_DATA):
        super().__init__(message)
        self.field, self.message, self.code = field, message, code


@dataclass
class Judges:
    """How sentences are judged: the embedded worker, the LLM for the uncertain band (cascade), or the LLM alone."""

    worker: GuardWorker | None
    llm: Judge | None
    band: Band | None


async def judges_of(app: Any) -> Judges:
    """The app's judge as the guard uses it; its worker is made once per app (its encoder loaded off the loop)."""
    judge = app.state.judge
    if judge is None:
        raise Problem(None, NO_JUDGE, SERVER_ERROR)
    if is_engine(judge):
        raise Problem(None, f"the {judge.info.name} judge scores whole answers only; the streaming guard needs the "
                            "embedded, cascade or openai judge (RAGMETER_JUDGE)", SERVER_ERROR)
    embedded = judge.embedded if isinstance(judge, CascadeJudge) else judge
    worker = None
    if isinstance(embedded, EmbeddedJudge):
        if not hasattr(app.state, "guard_worker_made"):
            app.state.guard_worker_made = asyncio.Lock()
        async with app.state.guard_worker_made:  # two first sessions at once make one set of workers
            workers = getattr(app.state, "guard_workers", None)
            if workers is None:
                settings = app.state.settings
                own = await asyncio.to_thread(guard_judge, embedded, settings.guard_encoder_threads)
                stage = app.state.telemetry.guard_stage
                workers = app.state.guard_workers = [
                    GuardWorker(own, lambda name, s: stage.labels(name).observe(s))
                    for _ in range(settings.guard_workers or default_workers())]
        # The one with the fewest streams takes this one; `guard` gives the place back when the session ends.
        worker = min(workers, key=lambda w: w.streams)
        worker.streams += 1
    if isinstance(judge, CascadeJudge):
        return Judges(worker, judge.llm, judge.band)
    return Judges(worker, None if worker else judge, None)


@router.websocket("/guard")
async def guard(ws: WebSocket) -> None:
    """The streaming guard (see docs/guard.md)."""
    app = ws.app
    settings: Settings = app.state.settings
    # Counted before the handshake completes: a client whose connect has returned holds its place, so a second
    # client cannot slip in while the first one's handler has not yet run.
    full = getattr(app.state, "guard_sessions", 0) >= settings.guard_max_sessions
    app.state.guard_sessions = getattr(app.state, "guard_sessions", 0) + 1
    judges: Judges | None = None
    try:
        await ws.accept()
        try:
            tenant = await _tenant(ws)
            if full:
                raise Problem(None, f"{settings.guard_max_sessions} guard sessions are open, the most this server "
                                    "takes (RAGMETER_GUARD_MAX_SESSIONS); retry shortly", TRY_LATER)
            judges = await judges_of(app)
        except Problem as problem:
            await _refuse(ws, problem)
            return
        await Session(ws, settings, judges, tenant).run()
    finally:
        app.state.guard_sessions -= 1
        if judges is not None and judges.worker is not None:
            judges.worker.streams -= 1


async def _tenant(ws: WebSocket) -> str | None:
    try:
        return await get_tenant(ws)  # type: ignore[arg-type]  # it reads only the headers, query and app state
    except HTTPException as refused:
        if refused.status_code == 401:
            raise Problem("api_key", str(refused.detail), POLICY) from None
        raise Problem(None, str(refused.detail), TRY_LATER) from None


async def _refuse(ws: WebSocket, problem: Problem) -> None:
    try:
        await ws.send_json({"type": "error", "field": problem.field, "message": problem.message})
        await ws.close(problem.code, problem.message[:120])  # a close reason is at most 123 bytes
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client left first


@dataclass
class Pending:
    sentence: Sentence
    task: asyncio.Task
    completed_at: float  # when its last text arrived (perf_counter)


@dataclass
class Session:
    ws: WebSocket
    settings: Settings
    judges: Judges
    tenant: str | None
    buffer: SentenceBuffer = field(default_factory=SentenceBuffer)
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)  # Pending, in order; None after the last
    usage: Usage = field(default_factory=Usage)
    gate: GateConfig = field(default_factory=GateConfig)
    stop_on: StopOn = "unsupported"
    budget: Budget | None = None
    base_chars: int = 0  # the question's and the contexts' characters, against the sample budget
    judged: int = 0  # sentence messages sent
    prefetched: int = 0  # characters of the streaming sentence when its candidates were last asked for

    async def run(self) -> None:
        receiving = sending = None
        start: StreamContext | None = None
        try:
            start = await self._start()
            receiving = asyncio.create_task(self._receive(start))
            sending = asyncio.create_task(self._send(start))
            done, _ = await asyncio.wait({receiving, sending}, return_when=asyncio.FIRST_COMPLETED)
            if receiving in done and receiving.exception() is None:
                await sending  # the answer ended: the remaining verdicts, then final
            elif receiving in done:
                raise receiving.exception()  # type: ignore[misc]
            else:
                sending.result()  # stopped early or failed
        except Problem as problem:
            await _refuse(self.ws, problem)
        except WebSocketDisconnect:
            pass
        finally:
            if start is not None and self.judges.worker is not None:
                self.judges.worker.forget(start)
            for task in (receiving, sending):
                if task is not None:
                    task.cancel()
                    # A receive that completed as it was cancelled (the client closing after the final verdict)
                    # still ends in WebSocketDisconnect: retrieve it, or asyncio logs it as never retrieved.
                    task.add_done_callback(_seen)
            while not self.queue.empty():
                if (item := self.queue.get_nowait()) is not None:
                    item.task.cancel()

    # ------------------------------------------------------------ client -> server
    async def _message(self) -> dict:
        try:
            message = await asyncio.wait_for(self.ws.receive(), self.settings.guard_idle_timeout_s)
        except TimeoutError:
            raise Problem(None, f"no message for {self.settings.guard_idle_timeout_s:g} s "
                                "(RAGMETER_GUARD_IDLE_TIMEOUT_S)", POLICY) from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        raw = message.get("text")
        if raw is None:
            raise Problem(None, "messages are JSON text frames, not binary")
        try:
            data = json_text.loads(raw)
        except ValueError as error:  # json_text.BadJSON: malformed, nested too deeply, a lone surrogate...
            raise Problem(None, f"not valid JSON: {error}") from None
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            raise Problem("type", "a message is a JSON object with a \"type\": start, delta or end")
        return data

    async def _start(self) -> StreamContext:
        data = await self._message()
        if data["type"] != "start":
            raise Problem("type", f"the first message must be {{\"type\": \"start\", ...}}, not {data['type']!r}")
        start = _parsed(Start, data)
        # Checked as a sample with no answer yet; the answer's size is checked as it arrives.
        sample = Sample.model_construct(user_input=start.question, retrieved_contexts=start.contexts, response="",
                                        reference=None, metadata={})
        budget = Budget.of(self.settings, self.ws.app.state.judge)
        if problems := limit_problems(sample, self.settings, budget):
            p = problems[0]
            where = ".".join(str(_FIELDS.get(str(part), part)) for part in p.field) or "contexts"
            raise Problem(where, p.message, TOO_BIG)
        if (wait := self.ws.app.state.judge.unavailable_for()) > 0:
            raise Problem(None, f"the judge is failing and its circuit breaker is open; retry in {wait:.0f} s",
                          TRY_LATER)
        if self.tenant is not None:
            try:
                self.ws.app.state.quota.samples(self.tenant, 1)
            except HTTPException as refused:
                raise Problem(None, str(refused.detail), TRY_LATER) from None
        self.gate, self.stop_on, self.budget = start.gate or GateConfig(), start.stop_on, budget
        self.base_chars = len(start.question) + sum(map(len, start.contexts))
        stream = StreamContext(start.question, start.contexts)
        if self.judges.worker is not None:
            await self.judges.worker.index(stream)
        return stream

    async def _receive(self, stream: StreamContext) -> None:
        while True:
            data = await self._message()
            if data["type"] == "end":
                _parsed(_End, data)
                self._submit(stream, self.buffer.finish())
                self.queue.put_nowait(None)
                return
            if data["type"] != "delta":
                raise Problem("type", f"unknown message type {data['type']!r}: after start, send delta or end")
            delta = _parsed(Delta, data)
            size = len(self.buffer.text) + len(delta.text)
            if size > self.settings.max_field_chars:
                raise Problem("text", f"the answer holds {size} characters, more than RAGMETER_MAX_FIELD_CHARS="
                                      f"{self.settings.max_field_chars}", TOO_BIG)
            if self.budget is not None and self.base_chars + size > self.budget.chars:
                raise Problem("text", f"the answer and contexts hold {self.base_chars + size} characters, more than "
                                      f"{self.budget.source}", TOO_BIG)
            self._submit(stream, self.buffer.feed(delta.text))
            if self.judges.worker is not None and len(self.buffer.pending) >= self.prefetched + PREFETCH_EVERY:
                self.prefetched = len(self.buffer.pending)
                self.judges.worker.prefetch(stream, self.buffer.pending)

    def _submit(self, stream: StreamContext, sentences: list[Sentence]) -> None:
        now = time.perf_counter()
        if sentences:
            self.prefetched = 0
        for sentence in sentences:
            claims = stream.claims(sentence.text)  # here, in order: a pronoun reads the sentence before it
            task = asyncio.create_task(self._verdicts(stream, claims, self.buffer.text[:sentence.end]))
            self.queue.put_nowait(Pending(sentence, task, now))

    async def _verdicts(self, stream: StreamContext, claims: list[ClaimText], answer: str
                        ) -> tuple[list[ClaimVerdict], bool]:
        """The claims' verdicts, and whether they waited for the LLM judge."""
        if not claims:
            return [], False
        judges = self.judges
        if judges.worker is None:  # an LLM judge alone decides every claim
            assert judges.llm is not None
            asked = [ClaimVerdict(claim=c.text, verdict="unsupported") for c in claims]
            return await escalate(judges.llm, stream, answer, asked, list(range(len(asked))), self.usage), True
        verdicts = await judges.worker.judge_claims(stream, claims)
        if judges.llm is None or judges.band is None:
            return verdicts, False
        band = judges.band
        uncertain = [i for i, v in enumerate(verdicts) if v.abstained or band.uncertain(v.probability)]
        if not uncertain:
            return verdicts, False
        return await escalate(judges.llm, stream, answer, verdicts, uncertain, self.usage), True

    # ------------------------------------------------------------ server -> client
    async def _send(self, stream: StreamContext) -> None:
        while (item := await self.queue.get()) is not None:
            try:
                verdicts, waited = await item.task
            except Problem:
                raise
            except Exception as error:  # noqa: BLE001 - the judge failed: say so and close, never crash
                log.warning("guard: judging a sentence failed: %s", error)
                raise Problem(None, f"the judge failed on sentence {item.sentence.index}: {error}",
                              SERVER_ERROR) from None
            stream.verdicts += verdicts
            verdict = sentence_verdict(verdicts)
            s = item.sentence
            latency = time.perf_counter() - item.completed_at
            self.ws.app.state.telemetry.guard_stage.labels("total").observe(latency)
            message: dict[str, Any] = {
                "type": "sentence", "index": s.index, "text": s.text, "start": s.start, "end": s.end,
                "verdict": verdict, "claims": [_claim(v) for v in verdicts], "latency_ms": round(latency * 1000, 2)}
            if waited:
                message["waited_for"] = "llm"
            await self.ws.send_json(message)
            self.judged += 1
            if stops(verdict, self.stop_on):
                await self.ws.send_json({"type": "stop", "index": s.index, "reason": _stop_reason(verdict, verdicts)})
                break
        await self._final(stream)

    async def _final(self, stream: StreamContext) -> None:
        threshold = self.gate.threshold
        if threshold is None:
            judge = self.ws.app.state.judge
            threshold = self.settings.hallucination_threshold
            threshold = judge.default_threshold if threshold is None else threshold
        detail, gate = final(stream.verdicts, self.gate, threshold)
        await self.ws.send_json({"type": "final", "gate": gate.model_dump(mode="json"),
                                 "scores": {"faithfulness": detail.score},
                                 "reasons": {"faithfulness": detail.reason} if detail.reason else {},
                                 "sentences": self.judged, "usage": self.usage.model_dump()})
        await self.ws.close(1000)


class _End(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["end"]


def _parsed(model: type[BaseModel], data: dict) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise Problem(where, f"{first['msg']} ({len(error.errors())} problem(s) in the {data['type']} message)") \
            from None


def _claim(v: ClaimVerdict) -> dict:
    return {"claim": v.claim, "verdict": v.verdict, "probability": v.probability, "evidence": v.evidence,
            "reason": v.reason, "judged_by": v.judged_by}


def _stop_reason(verdict: str, verdicts: list[ClaimVerdict]) -> str:
    failing = next((v for v in verdicts if v.verdict == verdict), None)
    detail = f": {failing.claim!r} ({failing.reason})" if failing and failing.reason else ""
    return f"{verdict}{detail}"


def _seen(task: asyncio.Task) -> None:
    if not task.cancelled():
        task.exception()
