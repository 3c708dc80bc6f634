"""Scoring samples in this process with the configured judge, as the CLI, the CI gate and the pytest plugin do."""
from __future__ import annotations

import asyncio

from ragmeter.metrics import GateConfig, Sample, SampleResult, score_sample
from rich.console import Console
from rich.progress import Progress

from ragmeter.service.judge_setup import NO_JUDGE, build_judge
from ragmeter.service.rows import ScoredRow
from ragmeter.service.settings import Settings


class NoJudge(RuntimeError):
    """The settings ask for a judge that is not configured."""


class NoExecutor(RuntimeError):
    """The Ray executor is asked for but ray is not installed, its cluster does not answer or its workers cannot
    start."""


def score_samples(samples: list[Sample], metrics: list[str] | None = None, gate: GateConfig | None = None,
                  executor: str | None = None, settings: Settings | None = None) -> list[SampleResult]:
    """Build the configured judge (or `settings`' one), score every sample behind a progress bar on stderr, close it.

    With executor "ray" (default: RAGMETER_EXECUTOR) the samples are scored by Ray workers instead."""
    settings = settings or Settings()
    if (executor or settings.executor) == "ray":
        return _score_on_ray(samples, metrics, gate, settings)
    judge = build_judge(settings)
    if judge is None:
        raise NoJudge(NO_JUDGE)

    async def one(sample: Sample) -> SampleResult:
        return await score_sample(sample, judge, metrics, gate, settings.hallucination_threshold,
                                  settings.citation_pattern)

    return _with_progress(samples, one, judge.aclose)


def _score_on_ray(samples: list[Sample], metrics: list[str] | None, gate: GateConfig | None,
                  settings: Settings) -> list[SampleResult]:
    from ragmeter.metrics import DEFAULT_METRICS

    from ragmeter.service.ray_pool import RAY_MISSING, RayPool, RayUnavailable, ray

    if ray is None:
        raise NoExecutor(RAY_MISSING)
    try:
        pool = RayPool(settings)
    except RayUnavailable as exc:
        raise NoExecutor(str(exc)) from exc
    try:
        slots = asyncio.Semaphore(pool.rows_in_flight)

        async def one(sample: Sample) -> SampleResult:
            async with slots:
                return await pool.score(sample, list(metrics or DEFAULT_METRICS), gate or GateConfig(),
                                        settings.hallucination_threshold)

        return _with_progress(samples, one)
    finally:
        pool.close()


def _with_progress(samples: list[Sample], score, close=None) -> list[SampleResult]:
    """Score every sample (`score` is async) behind a progress bar on stderr; then await `close`, on the same loop."""
    results: list[SampleResult | None] = [None] * len(samples)

    async def one(i: int) -> None:
        results[i] = await score(samples[i])

    async def run() -> None:
        try:
            with Progress(console=Console(stderr=True), transient=True) as progress:
                task = progress.add_task("scoring", total=len(samples))
                for done in asyncio.as_completed([one(i) for i in range(len(samples))]):
                    await done
                    progress.advance(task)
        finally:
            if close is not None:
                await close()

    asyncio.run(run())
    return results  # type: ignore[return-value]


def score_rows(samples: list[Sample], metrics: list[str] | None = None, gate: GateConfig | None = None,
               settings: Settings | None = None) -> list[ScoredRow]:
    """`score_samples`, as flat scored rows."""
    results = score_samples(samples, metrics, gate, settings=settings)
    return [ScoredRow.of(i, sample, result) for i, (sample, result) in enumerate(zip(samples, results, strict=True))]
