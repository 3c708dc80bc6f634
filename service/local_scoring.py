"""Scoring samples in this process with the configured judge, as the CLI commands do."""
from __future__ import annotations

import asyncio

from rich.console import Console
from rich.progress import Progress

from metrics import GateConfig, Sample, SampleResult, score_sample

from .judges import NO_JUDGE, build_judge
from .settings import Settings


class NoJudge(RuntimeError):
    """The settings ask for a judge that is not configured."""


def score_samples(samples: list[Sample], metrics: list[str], gate: GateConfig | None = None) -> list[SampleResult]:
    """Build the configured judge, score every sample behind a progress bar on stderr, close the judge."""
    settings = Settings()
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
