"""The streaming guard's embedded-judge worker: one thread judges the sentences of its share of the open streams.

The guard makes several workers (RAGMETER_GUARD_WORKERS, one more than the cores by default) and gives each
new stream to the one with the fewest, so that a sentence that needs a dozen context sentences encoded holds
up one worker's streams, not every stream's cheap sentences. They share the guard's encoder session, one
onnxruntime thread per run (RAGMETER_GUARD_ENCODER_THREADS): runs on separate cores proceed side by side.
(One queue served by several threads was tried too and was slower: a thread seldom had nothing waiting,
so the sentences still streaming were no longer prefetched.)

A new stream's contexts are split and indexed (off the event loop), never encoded whole: each sentence's
claims encode only the few context sentences they share most words with, as the full judge does, so a
sentence waits for its own work and for the sentences ahead of it, not for other streams' contexts.
Complete sentences are judged oldest first, a few at a time (`MAX_BATCH`), but only once the context
sentences they compare with are encoded: a sentence that needs a dozen (a short claim matched with its
question) gets them a chunk per turn (`CHUNK_TEXTS`, oldest sentences first), so the cheap sentences
behind it (a quoted claim costs about 2 ms) are not held up by it; one that has waited `AGE_S` gets its
chunk even while cheaper ones are judged, so it is not starved either. When no sentence waits, the
worker encodes the likely candidates of the sentences still streaming (`prefetch`), a text at a time, so
that a sentence's verdict mostly waits only for its own claims' encoding.
"""
from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from ragmeter.metrics.judgements import ClaimVerdict
from ragmeter.metrics.judges.embedded.claims import ClaimText
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.metrics.judges.embedded.support import ContextIndex
from ragmeter.metrics.streaming import (
    StreamContext,
    encode_sentences,
    index_contexts,
    judge_batch,
    prefetch,
    unencoded,
)

log = logging.getLogger("ragmeter.guard")
Waiting = tuple[StreamContext, list[ClaimText], asyncio.Future, float]  # a sentence's claims, its answer, since
MAX_BATCH = 4  # sentences per encoder run
# Context sentences encoded per turn for the sentences that need some: what a cheap one waits for. The integer
# encoder runs a text at a time, so a larger chunk saves nothing and only holds the cheap ones longer (3 against
# 8, in alternation: server p95 35 and 24 ms against 47 and 30 on rag_bench, 83 and 44 against 84 and 67 on QAGS).
CHUNK_TEXTS = 3
FLOAT_CHUNK_TEXTS = 8  # the float encoder (RAGMETER_ENCODER_QUANTIZED=false) batches: a run of 8 costs far less
AGE_S = 0.1  # a sentence waiting this long gets its chunk even while cheaper ones are judged
PREFETCH_TEXTS = 1  # context sentences per prefetch run: the most a sentence that arrives meanwhile waits for


def default_workers() -> int:
    """RAGMETER_GUARD_WORKERS=0: one more than the cores this process may use, so that a cheap sentence finds a
    worker while the others encode (3 on 2 cores: the best of 1 to 4 measured in docs/guard.md)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return cores + 1


def guard_judge(embedded: EmbeddedJudge, threads: int) -> EmbeddedJudge:
    """The judge the guard's worker uses: the app's own (threads 0), or the same weights on an encoder session of
    its own with `threads` intra-op threads (RAGMETER_GUARD_ENCODER_THREADS)."""
    if threads == 0:
        return embedded
    from ragmeter.metrics.judges.embedded.encoder import Encoder

    return EmbeddedJudge(encoder=Encoder.load(threads=threads), model=embedded.model, entailment=embedded.entailment)


class GuardWorker:
    def __init__(self, judge: EmbeddedJudge, observe: Callable[[str, float], None] | None = None):
        """`observe(stage, seconds)` is told each sentence's wait for the judge ("queued") and judging ("judged")."""
        self.judge = judge
        self.observe = observe or (lambda stage, seconds: None)
        self.streams = 0  # guard sessions judged here now (the guard gives a new one to the least busy worker)
        self._waiting: list[Waiting] = []
        self._todo: dict[int, list[tuple[ContextIndex, int]]] = {}  # per waiting future: its sentences to encode
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
                for w in self._waiting:
                    if w[2].done():  # a closed stream's sentences are dropped
                        self._todo.pop(id(w[2]), None)
                self._waiting = [w for w in self._waiting if not w[2].done()]
                if not self._waiting:
                    if self._partial:
                        await self._prefetch(loop)
                    continue
                items = list(self._waiting)
                started = time.perf_counter()
                try:
                    ready, results = await loop.run_in_executor(self._pool, self._step, items)
                except Exception as error:  # noqa: BLE001 - handed to each waiting stream, which reports it
                    log.exception("guard: judging a batch failed")
                    for _, _, future, _ in items:
                        self._todo.pop(id(future), None)
                        if not future.done():
                            future.set_exception(error)
                    continue
                judged = time.perf_counter() - started
                finished = {id(items[k]) for k in ready}
                self._waiting = [w for w in self._waiting if id(w) not in finished]
                for k in ready:
                    self._todo.pop(id(items[k][2]), None)
                for k, verdicts in zip(ready, results, strict=True):
                    _, _, future, queued_at = items[k]
                    self.observe("queued", started - queued_at)
                    self.observe("judged", judged)
                    if not future.done():
                        future.set_result(verdicts)

    def _left(self, item: Waiting) -> list[tuple[ContextIndex, int]]:
        # Which sentences a claim compares with is fixed once it is complete: found once, then only filtered.
        stream, claims, future, _ = item
        if id(future) not in self._todo:
            self._todo[id(future)] = unencoded(stream, claims)
        left = self._todo[id(future)] = [(ctx, i) for ctx, i in self._todo[id(future)] if i not in ctx.vectors]
        return left

    def _encode(self, left: list[list[tuple[ContextIndex, int]]]) -> None:
        # Oldest first, across the waiting sentences.
        chunk = {(id(ctx), i): (ctx, i) for todo in left for ctx, i in todo}  # two streams may share one
        size = CHUNK_TEXTS if getattr(self.judge.encoder, "one_per_run", True) else FLOAT_CHUNK_TEXTS
        encode_sentences(self.judge, list(chunk.values())[:size])

    def _step(self, items: list[Waiting]) -> tuple[list[int], list[list[ClaimVerdict]]]:
        """One turn of the worker thread: judge the sentences whose context sentences are all encoded (up to
        MAX_BATCH, oldest first); when none is, or the oldest other has waited AGE_S, encode CHUNK_TEXTS more
        of the oldest's, so that a sentence that needs a dozen never holds up the cheap ones behind it."""
        left = [self._left(item) for item in items]
        ready = [k for k, todo in enumerate(left) if not todo][:MAX_BATCH]
        if not ready:  # nothing cheap waits: encode, then judge in this same turn whatever that completed
            self._encode(left)
            left = [self._left(item) for item in items]
            ready = [k for k, todo in enumerate(left) if not todo][:MAX_BATCH]
        results = judge_batch(self.judge, [(items[k][0], items[k][1]) for k in ready]) if ready else []
        oldest = next((k for k, todo in enumerate(left) if todo), None)
        if ready and oldest is not None and time.perf_counter() - items[oldest][3] > AGE_S:
            self._encode(left)
        return ready, results

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
