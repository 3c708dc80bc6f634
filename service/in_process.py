"""Scoring samples in this process with the configured judge, as the CLI, the CI gate and the pytest plugin do."""
from __future__ import annotations

import asyncio

from rich.console import Console
from rich.progress import Progress

from ragmeter.metrics import GateConfig, Sample, SampleResult, score_sample

from .judge_setup import NO_JUDGE, build_judge
from .rows import ScoredRow
from .settings import Settings


class NoJudge(RuntimeError):
    """The settings ask for a judge that is not configured."""


def score_samples(samples: list[Sample], metrics: list[str] | None = None, gate: GateConfig | None = None,
                  settings: Settings | None = None) -> list[SampleResult]:
    """Build the configured judge (or `settings`' one), score every sample behind a progress bar on stderr, close it."""
    settings = settings or Settings()
    judge = build_judge(settings)
    if judge is None:
        raise NoJudge(NO_JUDGE)
    results: list[SampleResult | None] = [None] * len(samples)

    async def one(i: int) -> None:
        results[i] = await score_sample(samples[i], judge, metrics, gate, settings.hallucination_threshold)

    async def run() -> None:
        try:
            with Progress(console=Console(stderr=True), transient=True) as progress:
                task = progress.add_task("scoring", total=len(samples))
                for done in asyncio.as_completed([one(i) for i in range(len(samples))]):
                    await done
                    progress.advance(task)
        finally:
            await judge.aclose()

    asyncio.run(run())
    return results  # type: ignore[return-value]


def score_rows(samples: list[Sample], metrics: list[str] | None = None, gate: GateConfig | None = None,
               settings: Settings | None = None) -> list[ScoredRow]:
    """`score_samples`, as flat scored rows."""
    results = score_samples(samples, metrics, gate, settings)
    return [ScoredRow.of(i, sample, result) for i, (sample, result) in enumerate(zip(samples, results))]
