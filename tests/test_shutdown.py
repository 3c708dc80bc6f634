"""SIGTERM ends `ragmeter serve` and every process it started (upload workers, multiprocessing's resource tracker)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import psutil


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sigterm_leaves_no_child_process_behind(tmp_path: Path):
    port = _free_port()
    env = {**os.environ, "RAGMETER_DB": f"sqlite:///{tmp_path}/jobs.db", "RAGMETER_JUDGE": "embedded",
           "RAGMETER_UPLOAD_PROCESS_MB": "0"}  # every upload is read by a worker process
    serve = subprocess.Popen([sys.executable, "-m", "ragmeter.service.cli", "serve", "--port", str(port)], env=env,
                             stderr=subprocess.PIPE, text=True)
    started, log = threading.Event(), []

    def read_log() -> None:
        assert serve.stderr is not None
        for line in serve.stderr:
            log.append(line)
            if "Application startup complete" in line:
                started.set()

    threading.Thread(target=read_log, daemon=True).start()
    children: list[psutil.Process] = []
    try:
        assert started.wait(120), "".join(log)
        data = "".join(json.dumps({"question": f"q{i}?", "contexts": ["c"], "answer": "a"}) + "\n" for i in range(3))
        response = httpx.post(f"http://127.0.0.1:{port}/v1/batches", files={"file": ("a.jsonl", data)}, timeout=120)
        assert response.status_code == 202, response.text
        children = psutil.Process(serve.pid).children(recursive=True)
        commands = [" ".join(c.cmdline()) for c in children]
        assert any("spawn_main" in c for c in commands) and any("resource_tracker" in c for c in commands), commands

        serve.send_signal(signal.SIGTERM)
        serve.wait(60)
        _, alive = psutil.wait_procs(children, timeout=15)
        assert [" ".join(p.cmdline()) for p in alive] == []
    finally:
        for process in [*children, psutil.Process(serve.pid)] if serve.poll() is None else children:
            if process.is_running():
                process.kill()


def test_closing_the_ingestor_stops_a_worker_busy_with_an_upload():
    import time

    from ragmeter.service.server.batches.ingest import Ingestor
    from ragmeter.service.settings import Settings

    ingestor = Ingestor(Settings())
    pool = ingestor._workers()
    busy = pool.submit(time.sleep, 600)  # stands for a worker parsing a huge file when the service stops
    workers = [psutil.Process(pid) for pid in pool._processes]  # spawned by submit
    assert workers and not busy.done()
    ingestor.close()
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert alive == []
