"""The Ray executor on a real local Ray head: same scores as local, rows of a killed worker scored again, the CLI."""
from __future__ import annotations

import json
import os
import signal

import pytest
from ragmeter.metrics import GateConfig, Sample
from ragmeter.service.server.batches.runner import BatchRunner
from ragmeter.service.server.batches.store import AsyncStore, JobStatus, Store
from ragmeter.service.cli import main
from ragmeter.service.in_process import score_samples
from ragmeter.service.rows import RowStatus

from .helpers import SAMPLE

pytest.importorskip("ray", reason="the optional extra ragmeter[ray] is not installed")

METRICS = ["faithfulness", "context_precision"]
SAMPLES = [Sample.model_validate({**SAMPLE, "id": f"s{i}", "response": SAMPLE["response"] + f" It has {i} floors."})
           for i in range(12)]


# First in the file: the module's pool below holds both of the head's CPUs once it exists.
def test_score_command_on_ray(ray_cluster, tmp_path, monkeypatch, capsys, local_results):
    data = tmp_path / "set.jsonl"
    data.write_text("".join(s.model_dump_json() + "\n" for s in SAMPLES[:4]))
    monkeypatch.setenv("RAGMETER_JUDGE", "local")
    monkeypatch.setenv("RAGMETER_RAY_WORKERS", "1")
    assert main(["score", str(data), "--executor", "ray", "--json", "--metrics", *METRICS]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["scores"] for line in lines] == [r.scores.model_dump() for r in local_results[:4]]


def test_more_workers_than_the_cluster_has_cpus_are_capped_not_left_waiting(ray_cluster, caplog):
    from ragmeter.service.ray_pool import RayPool
    from ragmeter.service.settings import Settings

    workers = RayPool(Settings(judge="local", ray_workers=5))  # the head has 2 CPUs
    try:
        assert len(workers.workers) == 2 and workers.rows_in_flight == 2
        assert "RAGMETER_RAY_WORKERS=5 but the Ray cluster has 2 CPUs" in caplog.text
    finally:
        workers.close()


async def test_ray_workers_use_the_calibrated_claim_cutoff(ray_cluster):
    import asyncio

    from ragmeter.service.ray_pool import RayPool
    from ragmeter.service.settings import Settings

    settings = Settings(judge="local", ray_workers=1, embedded_claim_cutoff=0.999)
    here = await asyncio.to_thread(score_samples, SAMPLES[:3], METRICS, settings=settings, executor="local")
    default = await asyncio.to_thread(score_samples, SAMPLES[:3], METRICS, settings=Settings(judge="local"),
                                      executor="local")
    assert [r.scores for r in here] != [r.scores for r in default]  # the setting matters for these samples
    workers = RayPool(settings)
    try:
        got = await asyncio.gather(*(workers.score(s, METRICS, GateConfig(), None) for s in SAMPLES[:3]))
    finally:
        workers.close()
    assert [r.scores for r in got] == [r.scores for r in here]


@pytest.fixture(scope="module")
def pool(ray_cluster):
    from ragmeter.service.ray_pool import RayPool
    from ragmeter.service.settings import Settings

    workers = RayPool(Settings(judge="local", ray_workers=2))
    yield workers
    workers.close()


@pytest.fixture(scope="module")
def local_results():
    os.environ["RAGMETER_JUDGE"] = "local"
    try:
        return score_samples(SAMPLES, METRICS, executor="local")
    finally:
        del os.environ["RAGMETER_JUDGE"]


async def test_ray_workers_give_the_same_scores_as_this_process(pool, local_results):
    import asyncio

    got = await asyncio.gather(*(pool.score(s, METRICS, GateConfig(), None) for s in SAMPLES))
    assert [r.scores for r in got] == [r.scores for r in local_results]
    assert [r.gate for r in got] == [r.gate for r in local_results]
    assert pool.calls_per_worker == 16 and pool.rows_in_flight == 2  # embedded: one row, one core per worker


async def test_a_batch_on_ray_survives_a_killed_worker(pool, job_store, local_results):
    store = AsyncStore(Store(job_store))
    job = await store.create_job("set.jsonl", SAMPLES, METRICS, GateConfig())
    runner = BatchRunner(store, None, pool.rows_in_flight, score=pool.score, poll_s=0.05)
    runner.start(job.id)
    while (await store.counts(job.id)).get(RowStatus.SCORED, 0) < 2:  # some done, some in flight
        await asyncio_sleep()
    os.kill(pool.pids()[0], signal.SIGKILL)
    await asyncio_wait(runner.tasks[job.id])
    assert (await store.job(job.id)).status == JobStatus.DONE
    rows = store.sync.rows(job.id)
    assert [r.status for r in rows] == [RowStatus.SCORED] * len(SAMPLES)
    again = [r.index for r in rows if r.attempts > 1]
    # The kill cost the one row in flight on that worker: no row was sent to it while Ray restarted it.
    assert len(again) == 1
    assert [r.scored_row().faithfulness for r in rows] == [r.scores.faithfulness for r in local_results]
    store.sync.close()


async def asyncio_sleep():
    import asyncio

    await asyncio.sleep(0.02)


async def asyncio_wait(task):
    import asyncio

    await asyncio.wait_for(task, 120)


def test_workers_without_a_free_cpu_fail_with_a_clear_error(pool):
    from ragmeter.service.ray_pool import RayPool, RayWorkersUnavailable
    from ragmeter.service.settings import Settings

    # The module's pool holds both CPUs of the head: one more worker cannot start.
    with pytest.raises(RayWorkersUnavailable, match="1 of 1 Ray workers did not start in 1 s"):
        RayPool(Settings(judge="local", ray_workers=1, ray_start_timeout_s=1))
