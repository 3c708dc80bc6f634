"""Batch rows scored by Ray workers: actors that each hold their own judge and their own cap on judge calls.

The LLM judge's calls in flight across all workers stay under RAGMETER_RAY_JUDGE_CONCURRENCY (the
provider's rate limit is shared): each worker gets min(RAGMETER_JUDGE_CONCURRENCY, that / workers).
A worker with the embedded judge runs one row at a time on one onnxruntime thread, so that a worker
is one core. A worker that dies takes its rows in flight with it: they raise WorkerLost, go back to
pending and are scored again (Ray restarts the actor).
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable

from ragmeter.metrics import GateConfig, Sample, SampleResult, score_sample
from ragmeter.metrics.judges import Scorer

from ragmeter.service.judge_setup import build_judge, judge_kind
from ragmeter.service.settings import Settings

try:
    import ray
    from ray.exceptions import (
        ActorDiedError,
        ActorUnavailableError,
        RayActorError,
        WorkerCrashedError,
    )
    DEATH = (RayActorError, ActorDiedError, ActorUnavailableError, WorkerCrashedError)
except ImportError:  # the optional extra ragmeter[ray]
    ray = None

# (sample, metrics, gate, hallucination threshold) -> result: how a row is scored.
Score = Callable[[Sample, list[str], GateConfig, float | None], Awaitable[SampleResult]]


class WorkerLost(Exception):
    """The worker scoring a row died with it: the row goes back to pending for any runner to claim."""


class RowFailed(Exception):
    """Scoring raised in another process; the message is the row's error as this process would write it."""


RAY_MISSING = "RAGMETER_EXECUTOR=ray needs the optional extra: pip install 'ragmeter[ray]'"
# What the workers need from this process's environment to build the same judge.
PASSED_ENV = ("OPENAI_", "RAGMETER_")
AUTH_SETTINGS = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")  # the user's own choice, kept
log = logging.getLogger("ragmeter.batches")


class RayUnavailable(RuntimeError):
    """Ray could not be used: its cluster does not answer, or its workers cannot start."""


class RayWorkersUnavailable(RayUnavailable):
    """The Ray workers could not all start: the cluster has no free CPU for some of them."""


class ClusterUnreachable(RayUnavailable):
    """Nothing answers at RAY_ADDRESS."""


def worker_caps(settings: Settings, workers: int) -> tuple[int, int]:
    """(judge calls in flight, rows in flight) for one of `workers` workers."""
    if judge_kind(settings) == "embedded":
        return settings.judge_concurrency, 1
    calls = max(1, min(settings.judge_concurrency, settings.ray_judge_concurrency // workers))
    return calls, calls


def worker_count(settings: Settings) -> int:
    """RAGMETER_RAY_WORKERS, at most the cluster's CPUs: each worker holds one, and one more would wait forever."""
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if cpus < 1:
        raise RayWorkersUnavailable("the Ray cluster has no CPU for a worker")
    if settings.ray_workers > cpus:
        log.warning("RAGMETER_RAY_WORKERS=%d but the Ray cluster has %d CPUs: starting %d workers (one CPU each)",
                    settings.ray_workers, cpus, cpus)
    return min(settings.ray_workers, cpus)


class ScoringWorker:
    """One Ray worker: the same scoring function as the service, with a judge of its own."""

    def __init__(self, settings: dict, calls: int):
        config = Settings(**{**settings, "judge_concurrency": calls})
        if judge_kind(config) == "embedded":
            from ragmeter.metrics.judges.embedded.encoder import Encoder
            from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

            self.judge: Scorer = EmbeddedJudge(Encoder.load(threads=1), claim_cutoff=config.embedded_claim_cutoff)
        elif (judge := build_judge(config)) is not None:
            self.judge = judge
        else:
            raise RuntimeError("the Ray worker has no judge: the OPENAI_* variables are not set where it runs")

    async def score(self, sample: dict, metrics: list[str], gate: dict, threshold: float | None) -> tuple[str, object]:
        """("ok", the result as JSON) or ("error", what went wrong, as the service would write it)."""
        while (wait := self.judge.unavailable_for()) > 0:  # the breaker is open: wait, as the local runner does
            await asyncio.sleep(wait)
        try:
            result = await score_sample(Sample.model_validate(sample), self.judge, metrics,
                                        GateConfig.model_validate(gate), threshold)
        except Exception as exc:
            return "error", f"{type(exc).__name__}: {exc}"
        return "ok", result.model_dump(mode="json")

    def pid(self) -> int:
        return os.getpid()


def connect(deadline: float, stop: threading.Event | None = None) -> bool:
    """Join the cluster at RAY_ADDRESS, else start a local Ray of this process's own; False when already connected.

    Without RAY_ADDRESS a cluster is never joined by accident (such as the one Ray's ray_current_cluster file
    names, maybe long dead). A cluster that does not answer by `deadline` (time.monotonic()) is ClusterUnreachable."""
    if ray is None:
        raise RuntimeError(RAY_MISSING)
    if ray.is_initialized():
        return False
    address = os.environ.get("RAY_ADDRESS") or "local"
    if address not in ("local", "auto"):  # "auto" is Ray's own lookup, asked for by name
        wait_until_reachable(address, deadline, stop)
    if address == "local" and not any(k in os.environ for k in AUTH_SETTINGS):
        # Ray guards a cluster it starts with a token and would write one to ~/.ray/auth_token, where later
        # `ray start` heads on this machine pick it up; a token of this process's own (Ray's processes inherit
        # the environment) guards this cluster the same and leaves nothing behind.
        os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV)}
    ray.init(address=address, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env},
             configure_logging=False)
    return True


def wait_until_reachable(address: str, deadline: float, stop: threading.Event | None = None) -> None:
    """Return once the cluster's port at `address` accepts a connection; ClusterUnreachable at `deadline`.

    ray.init would retry an address that does not answer for minutes; this fails in the time the settings allow."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ClusterUnreachable(f"RAY_ADDRESS={address!r} is not host:port (or ray://host:port)")
    allowed = max(0.0, deadline - time.monotonic())
    stop = stop or threading.Event()
    problem = "no answer"
    while time.monotonic() < deadline and not stop.is_set():
        try:
            wait = max(0.1, deadline - time.monotonic())
            socket.create_connection((host.strip("[]"), int(port)), timeout=wait).close()
            return
        except OSError as exc:
            problem = str(exc) or type(exc).__name__
        stop.wait(min(0.5, max(0.0, deadline - time.monotonic())))  # a head that is starting opens its port soon
    raise ClusterUnreachable(f"no Ray cluster answers at RAY_ADDRESS={address} within {allowed:.0f} s "
                             f"(RAGMETER_RAY_START_TIMEOUT_S): {problem}")


class RayPool:
    """The workers of one process: rows go to the least busy worker; results come back as they finish."""

    def __init__(self, settings: Settings, stop: threading.Event | None = None):
        """Connect (ClusterUnreachable after RAGMETER_RAY_START_TIMEOUT_S, or once `stop` is set), start the workers
        and wait until each has built its judge (RayWorkersUnavailable after that long again: CPUs held by others)."""
        self.workers: list = []
        self.restarting: dict[int, asyncio.Future] = {}
        self.connected_here = connect(time.monotonic() + settings.ray_start_timeout_s, stop)
        try:
            self._start(settings)
        except BaseException:
            self.close()
            raise

    def _start(self, settings: Settings) -> None:
        workers = worker_count(settings)
        calls, rows = worker_caps(settings, workers)
        actor = ray.remote(num_cpus=1, max_restarts=-1, max_task_retries=0, max_concurrency=rows)(ScoringWorker)
        config = settings.model_dump(mode="json")
        self.workers = [actor.remote(config, calls) for _ in range(workers)]
        self.busy = [0] * len(self.workers)
        # Workers Ray is restarting, until they answer again: rows sent there would only bounce back.
        self.restarting = {}
        self.rows_in_flight = rows * len(self.workers)
        self.calls_per_worker = calls
        _, waiting = ray.wait([w.pid.remote() for w in self.workers], num_returns=len(self.workers),
                              timeout=settings.ray_start_timeout_s)
        if waiting:
            free = ray.available_resources().get("CPU", 0)
            raise RayWorkersUnavailable(
                f"{len(waiting)} of {workers} Ray workers did not start in {settings.ray_start_timeout_s:g} s: each "
                f"needs a free CPU and the cluster has {free:g} free now (other jobs hold the rest)")

    async def score(self, sample: Sample, metrics: list[str], gate: GateConfig,
                    threshold: float | None) -> SampleResult:
        """Score one row on a live worker; WorkerLost when the worker died meanwhile."""
        while len(self.restarting) == len(self.workers):
            await asyncio.wait(list(self.restarting.values()), return_when=asyncio.FIRST_COMPLETED)
        i = min((i for i in range(len(self.workers)) if i not in self.restarting), key=self.busy.__getitem__)
        self.busy[i] += 1
        try:
            kind, value = await self.workers[i].score.remote(sample.model_dump(mode="json"), metrics,
                                                             gate.model_dump(mode="json"), threshold)
        except DEATH as exc:
            self._until_back(i)
            raise WorkerLost(f"ray worker {i} died: {type(exc).__name__}") from exc
        finally:
            self.busy[i] -= 1
        if kind == "error":
            raise RowFailed(value)
        return SampleResult.model_validate(value)

    def _until_back(self, i: int) -> None:
        """Leave worker i out until Ray has restarted it and it answers."""
        async def back() -> None:
            while True:
                try:
                    await self.workers[i].pid.remote()
                    break
                except DEATH:
                    await asyncio.sleep(0.2)
            self.restarting.pop(i, None)

        if i not in self.restarting:
            self.restarting[i] = asyncio.ensure_future(back())

    def pids(self) -> list[int]:
        """The workers' process ids (for drills that kill one)."""
        return ray.get([w.pid.remote() for w in self.workers])

    def close(self) -> None:
        """Stop the workers; a Ray this pool started (no RAY_ADDRESS) stops with them."""
        for waiting in self.restarting.values():
            waiting.cancel()
        self.restarting.clear()
        for worker in self.workers:
            ray.kill(worker)
        self.workers = []
        if self.connected_here:
            ray.shutdown()
            self.connected_here = False
