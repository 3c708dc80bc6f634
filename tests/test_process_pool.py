"""RAGMETER_EXECUTOR=process: rows scored by worker processes here, as the judge in the service would score them."""
from __future__ import annotations

import os
import signal

import pytest
from ragmeter.metrics import GateConfig, Sample, score_sample
from ragmeter.metrics.judges.embedded.encoder import Encoder
from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge
from ragmeter.service.process_pool import ProcessPool
from ragmeter.service.ray_pool import WorkerLost
from ragmeter.service.settings import Settings

from .helpers import SAMPLE

METRICS = ["faithfulness", "answer_relevancy", "context_precision", "context_recall"]


@pytest.fixture(scope="module")
def pool():
    workers = ProcessPool(Settings(judge="embedded", executor="process", process_workers=1, process_nice=5))
    yield workers
    workers.close()


async def test_a_worker_scores_as_the_judge_in_the_service_does(pool):
    sample = Sample.model_validate(SAMPLE)
    here = await score_sample(sample, EmbeddedJudge(Encoder.load(threads=1)), METRICS, GateConfig(), None)
    there = await pool.score(sample, METRICS, GateConfig(), None)
    assert there.scores == here.scores
    assert there.gate == here.gate


def test_workers_run_at_a_lower_priority_than_the_service(pool):
    (pid,) = pool.pids()
    assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0) + 5


async def test_a_dead_worker_loses_its_row_and_the_workers_start_again(pool):
    (pid,) = pool.pids()
    os.kill(pid, signal.SIGKILL)
    sample = Sample.model_validate(SAMPLE)
    with pytest.raises(WorkerLost):
        await pool.score(sample, ["faithfulness"], GateConfig(), None)
    (restarted,) = pool.pids()
    assert restarted != pid
    assert (await pool.score(sample, ["faithfulness"], GateConfig(), None)).scores.faithfulness is not None
