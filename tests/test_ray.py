"""The Ray executor on a real local Ray head: same scores as local, rows of a killed worker scored again, the CLI."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
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


# The suite's port range: the service of the tests below, and an address where no Ray cluster is.
DEAD_ADDRESS = "127.0.0.1:8469"  # a port of the suite's range that nothing listens on


@contextlib.contextmanager
def service_in_child(tmp_path: Path, **env: str):
    """`ragmeter serve` with the Ray executor in a child process (its own process group), on a free port.

    Stopped afterwards with everything it started (a local Ray included); `env` values of "" unset a variable."""
    ragmeter = shutil.which("ragmeter", path=os.path.dirname(sys.executable))
    assert ragmeter is not None, "installed with the package"
    variables = {**os.environ, "RAGMETER_EXECUTOR": "ray", "RAGMETER_JUDGE": "local", "RAGMETER_RAY_WORKERS": "1",
                 "RAGMETER_DB": f"sqlite:///{tmp_path}/jobs.db", **env}
    variables = {k: v for k, v in variables.items() if v != ""}
    # A free port, not a fixed one: another suite on the same machine (a second checkout) must not collide.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen([ragmeter, "serve", "--port", str(port), "--log-level", "warning"],
                             env=variables, stdout=subprocess.DEVNULL, stderr=(tmp_path / "serve.log").open("wb"),
                             start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}", child
    finally:
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
        with contextlib.suppress(ProcessLookupError):  # anything of its Ray that outlived it
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()


def answer(url: str, child: subprocess.Popen, done, within: float = 180.0) -> httpx.Response:
    """Ask `url` until `done(response)` holds; fails if the child exits or `within` seconds pass first."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert child.poll() is None, f"the service exited with {child.returncode}"
        try:
            response = httpx.get(url, timeout=5)
            if done(response):
                return response
        except httpx.TransportError:  # not listening yet
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer as expected in {within:g} s")


def test_without_ray_address_the_service_starts_its_own_ray_despite_a_stale_cluster_file(ray_cluster, tmp_path):
    # What a killed `ray start` leaves behind: Ray's ray_current_cluster file naming a head that is gone.
    # A plain ray.init() follows it and tries for minutes to reach that head.
    ray_tmp = Path(tempfile.mkdtemp(prefix="raytmp-", dir="/tmp"))  # short: Ray's socket paths live under it
    (ray_tmp / "ray").mkdir()
    (ray_tmp / "ray" / "ray_current_cluster").write_text(DEAD_ADDRESS)
    home = tmp_path / "home"
    home.mkdir()
    try:
        with service_in_child(tmp_path, RAY_TMPDIR=str(ray_tmp), RAY_ADDRESS="", HOME=str(home)) as (base, child):
            health = answer(f"{base}/healthz", child, lambda r: True, within=60)
            assert health.json() == {"status": "ok"}  # before Ray is up, or after: it answers
            ready = answer(f"{base}/readyz", child, lambda r: r.json()["executor"]["state"] != "starting")
            assert ready.status_code == 200, ready.json()
            assert ready.json()["executor"] == {"kind": "ray", "state": "ready", "reason": None,
                                                "background_scoring": True}
            batch = httpx.post(f"{base}/v1/batches", files={"file": ("set.jsonl", "".join(
                s.model_dump_json() + "\n" for s in SAMPLES[:2]))}, data={"metrics": ",".join(METRICS)}).json()
            done = answer(f"{base}/v1/batches/{batch['id']}", child, lambda r: r.json()["status"] == "done")
            assert (done.json()["scored"], done.json()["errors"]) == (2, 0)
            assert list((ray_tmp / "ray").glob("session_*"))  # its own Ray, under RAY_TMPDIR
        assert not (home / ".ray").exists()  # its Ray's auth token stayed in memory, not in ~/.ray/auth_token
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_an_unreachable_ray_address_fails_the_start_clearly_and_the_service_keeps_answering(ray_cluster, tmp_path):
    with service_in_child(tmp_path, RAY_ADDRESS=DEAD_ADDRESS, RAGMETER_RAY_START_TIMEOUT_S="3") as (base, child):
        assert answer(f"{base}/healthz", child, lambda r: True, within=60).status_code == 200
        failed = answer(f"{base}/readyz", child, lambda r: r.json()["executor"]["state"] == "failed").json()
        assert failed["ready"] is False
        assert failed["reason"].startswith("batch executor failed to start: ClusterUnreachable: no Ray cluster "
                                           f"answers at RAY_ADDRESS={DEAD_ADDRESS} within 3 s")
        assert httpx.get(f"{base}/healthz").status_code == 200


def test_the_score_command_says_when_ray_address_does_not_answer(tmp_path):
    data = tmp_path / "set.jsonl"
    data.write_text(SAMPLES[0].model_dump_json() + "\n")
    ragmeter = shutil.which("ragmeter", path=os.path.dirname(sys.executable))
    assert ragmeter is not None, "installed with the package"
    env = {**os.environ, "RAY_ADDRESS": DEAD_ADDRESS, "RAGMETER_RAY_START_TIMEOUT_S": "2", "RAGMETER_JUDGE": "local"}
    done = subprocess.run([ragmeter, "score", str(data), "--executor", "ray"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert f"no Ray cluster answers at RAY_ADDRESS={DEAD_ADDRESS} within 2 s" in " ".join(done.stderr.split())


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
