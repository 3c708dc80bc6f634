"""The streaming guard's embedded-judge worker: one thread judges the sentences of every open stream.

A new stream's contexts are split and indexed (off the event loop), never encoded whole: each sentence's
claims encode only the few context sentences they share most words with, as the full judge does, so a
sentence waits for its own work and for the sentences ahead of it, not for other streams' contexts.
Complete sentences are judged in arrival order, a few at a time (`MAX_BATCH`): on the CPU a batch costs
about the sum of its texts, so a large batch only makes its first sentence wait for its last. When no
sentence waits, the worker encodes the likely candidates of the sentences still streaming (`prefetch`), a
text or two at a time, so that a sentence's verdict mostly waits only for its own claims' encoding. One
thread, because onnxruntime already spreads one run over every core: two runs at once only queue for them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ragmeter.metrics.judgements import ClaimVerdict
from ragmeter.metrics.judges.embedded.claims import ClaimText
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.streaming import StreamContext, index_contexts, judge_batch, prefetch

log = logging.getLogger("ragmeter.guard")
MAX_BATCH = 4  # sentences per encoder run
PREFETCH_TEXTS = 1  # context sentences per prefetch run: the most a sentence that arrives meanwhile waits for


class GuardWorker:
    def __init__(self, judge: EmbeddedJudge, observe: Callable[[str, float], None] | None = None):
        """`observe(stage, seconds)` is told each sentence's wait for the judge ("queued") and judging ("judged")."""
        self.judge = judge
        self.observe = observe or (lambda stage, seconds: None)
        self._waiting: list[tuple[StreamContext, list[ClaimText], asyncio.Future, float]] = []
        self._partial: dict[int, tuple[StreamContext, str]] = {}  # each stream's sentence still streaming
        self._wake = asyncio.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ragmeter-guard")
        self._task: asyncio.Task | None = None

    async def judge_claims(self, stream: StreamContext, claims: list[ClaimText]) -> list[ClaimVerdict]:
        """The claims' verdicts, judged in turn with the other streams' sentences."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((stream, claims, future, time.perf_counter()))
        self._kick()
        return await future

    async def index(self, stream: StreamContext) -> None:
        """Split and index the stream's contexts (cached by content), off the event loop; nothing is encoded."""
        await asyncio.to_thread(index_contexts, self.judge, stream)

    def prefetch(self, stream: StreamContext, partial: str) -> None:
        """Note the text of the stream's sentence still streaming; its candidates are encoded when nothing waits."""
        self._partial[id(stream)] = (stream, partial)  # streams take turns: a stream keeps its place
        self._kick()

    def forget(self, stream: StreamContext) -> None:
        """The stream ended: nothing more to prefetch for it."""
        self._partial.pop(id(stream), None)

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="guard-worker")
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting or self._partial:
                if not self._waiting:
                    await self._prefetch(loop)
                    continue
                batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                live = [b for b in batch if not b[2].done()]  # a closed stream's sentences are dropped
                if not live:
                    continue
                started = time.perf_counter()
                for *_, queued_at in live:
                    self.observe("queued", started - queued_at)
                try:
                    results = await loop.run_in_executor(self._pool, judge_batch, self.judge,
                                                         [(s, c) for s, c, *_ in live])
                except Exception as error:  # noqa: BLE001 - handed to each waiting stream, which reports it
                    log.exception("guard: judging a batch failed")
                    for _, _, future, _ in live:
                        if not future.done():
                            future.set_exception(error)
                    continue
                judged = time.perf_counter() - started
                for (_, _, future, _), verdicts in zip(live, results, strict=True):
                    self.observe("judged", judged)
                    if not future.done():
                        future.set_result(verdicts)

    async def _prefetch(self, loop: asyncio.AbstractEventLoop) -> None:
        key = next(iter(self._partial))
        stream, partial = self._partial.pop(key)
        try:
            more = await loop.run_in_executor(self._pool, prefetch, self.judge, stream, partial, PREFETCH_TEXTS)
        except Exception:  # noqa: BLE001 - ahead-of-time work only: judging encodes whatever is missing
            log.exception("guard: prefetching context sentences failed")
            return
        if more and key not in self._partial:
            self._partial[key] = (stream, partial)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
