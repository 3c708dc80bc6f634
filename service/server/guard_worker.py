"""The streaming guard's embedded-judge worker: one thread judges the sentences of every open stream.

Sentences that wait are judged together (one encoder run for all their claims), ahead of the warm-up
work that encodes new streams' context sentences in small chunks between batches. One thread, because
onnxruntime already spreads one run over every core: two runs at once only queue for them.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from ragmeter.metrics.judgements import ClaimVerdict
from ragmeter.metrics.judges.embedded.claims import ClaimText
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.embedded.support import ContextIndex
from ragmeter.metrics.streaming import StreamContext, encode_sentences, index_contexts, judge_batch, unencoded

log = logging.getLogger("ragmeter.guard")
MAX_BATCH = 32  # sentences per encoder run
WARM_CHUNK = 8  # context sentences per warm-up run: about 15 ms, the most a waiting sentence is held up


class GuardWorker:
    def __init__(self, judge: EmbeddedJudge):
        self.judge = judge
        self._waiting: list[tuple[StreamContext, list[ClaimText], asyncio.Future]] = []
        self._warm: deque[list[tuple[ContextIndex, int]]] = deque()
        self._wake = asyncio.Event()
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ragmeter-guard")
        self._task: asyncio.Task | None = None

    async def judge_claims(self, stream: StreamContext, claims: list[ClaimText]) -> list[ClaimVerdict]:
        """The claims' verdicts, judged in the next batch."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._waiting.append((stream, claims, future))
        self._kick()
        return await future

    async def index(self, stream: StreamContext) -> None:
        """Split the stream's contexts (off the event loop), then queue their sentences for warm-up encoding."""
        await asyncio.to_thread(index_contexts, self.judge, stream)
        todo = unencoded(stream)
        for i in range(0, len(todo), WARM_CHUNK):
            self._warm.append(todo[i:i + WARM_CHUNK])
        self._kick()

    def _kick(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="guard-worker")
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting or self._warm:
                if self._waiting:
                    batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
                    live = [b for b in batch if not b[2].done()]  # a closed stream's sentences are dropped
                    try:
                        results = await loop.run_in_executor(self._pool, judge_batch, self.judge,
                                                             [(s, c) for s, c, _ in live])
                    except Exception as error:  # noqa: BLE001 - handed to each waiting stream, which reports it
                        log.exception("guard: judging a batch failed")
                        for _, _, future in live:
                            if not future.done():
                                future.set_exception(error)
                        continue
                    for (_, _, future), verdicts in zip(live, results, strict=True):
                        if not future.done():
                            future.set_result(verdicts)
                else:
                    chunk = self._warm.popleft()
                    try:
                        await loop.run_in_executor(self._pool, encode_sentences, self.judge, chunk)
                    except Exception:  # noqa: BLE001 - warm-up only: the sentence batch encodes what is missing
                        log.exception("guard: warm-up encoding failed")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._pool.shutdown(wait=False, cancel_futures=True)
