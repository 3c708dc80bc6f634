"""Who scores batch rows: this process with its judge (RAGMETER_EXECUTOR=local) or Ray workers (ray)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ragmeter.service.settings import Settings
from ragmeter.service.server.batches.runner import Score


@dataclass
class Executor:
    score: Score | None  # None: the runner scores with the judge in this process
    rows: int  # rows in flight at once: enough to keep every worker busy
    close: Callable[[], None]


def open_executor(settings: Settings) -> Executor:
    """The configured executor; with ray, its workers are started (or the cluster at RAY_ADDRESS joined) now."""
    if settings.executor == "local":
        return Executor(None, settings.batch_concurrency, lambda: None)
    from ragmeter.service.ray_pool import RayPool

    pool = RayPool(settings)
    return Executor(pool.score, max(settings.batch_concurrency, pool.rows_in_flight), pool.close)
