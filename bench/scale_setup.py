"""What the scale benchmark and drill share: the bench rows, judge-sim, a Ray head, PostgreSQL databases, replicas."""
from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
from drill_service import serve
from ragmeter.metrics import Sample

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SIM = SHARED / "judge-sim" / "judge_sim.py"
DATA = SHARED / "data" / "rag_bench_100.jsonl"
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432"
# A Ray head on ports 8720-8759 only (this project's range for these scripts).
RAY_PORTS = {"--port": 8720, "--node-manager-port": 8721, "--object-manager-port": 8722,
             "--dashboard-agent-listen-port": 8723, "--dashboard-agent-grpc-port": 8724,
             "--runtime-env-agent-port": 8725, "--metrics-export-port": 8726,
             "--dashboard-port": 8728, "--min-worker-port": 8730, "--max-worker-port": 8759}


def bench_rows(n: int) -> list[dict]:
    """n rows of rag_bench_100 repeated, each made distinct (its own id, one more sentence in the response, its
    own contexts), so that no cache (judge replies, the embedded judge's per-process context index) flatters
    one worker over several, and no row mix-up can pass unnoticed."""
    base = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]
    return [{**row, "id": f"r{i}", "response": row["response"] + f" It was noted in report {i}.",
             "retrieved_contexts": [f"{context} (Source {i}.)" for context in row["retrieved_contexts"]]}
            for i, row in ((i, base[i % len(base)]) for i in range(n))]


def bench_samples(n: int) -> list[Sample]:
    return [Sample.model_validate(row) for row in bench_rows(n)]


def write_rows(path: Path, n: int) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in bench_rows(n)))
    return path


def wait_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


@contextlib.contextmanager
def judge_sim(port: int, latency_ms: int = 300, jitter_ms: int = 50) -> Iterator[str]:
    """judge-sim on a loopback port for the block; yields its base URL (…/v1)."""
    process = subprocess.Popen([sys.executable, str(SIM), "--port", str(port), "--latency-ms", str(latency_ms),
                                "--jitter-ms", str(jitter_ms)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)


def sim_stats(base_url: str, reset: bool = False) -> dict:
    root = base_url.removesuffix("/v1")
    stats = httpx.get(f"{root}/stats").json()
    if reset:
        httpx.post(f"{root}/stats/reset")
    return stats


def llm_env(base_url: str) -> dict[str, str]:
    """The LLM judge on judge-sim, no reply cache (every call counted is a call paid)."""
    return {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "sim", "RAGMETER_JUDGE": "openai",
            "RAGMETER_CACHE_SIZE": "0"}


def ray_head(cpus: int) -> contextlib.AbstractContextManager[str]:
    """A local Ray head with `cpus` logical CPUs on this script's ports; this process joins it (RAY_ADDRESS)."""
    from ragmeter.service.ray_head import joined_ray_head

    return joined_ray_head(RAY_PORTS, cpus)


@contextlib.contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database of this run's own, dropped afterwards; yields its URL."""
    from sqlalchemy import create_engine, text

    name = f"ragmeter_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{POSTGRES}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES}/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextlib.contextmanager
def replicas(ports: list[int], db: str, work: Path, **env: str) -> Iterator[list[subprocess.Popen]]:
    """`ragmeter serve` replicas on one store, one per port, started one after the other; stopped after the block."""
    started: list[subprocess.Popen] = []
    try:
        for port in ports:
            started.append(serve(port, db, log=work / f"serve.{port}.log", **env))
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.terminate()
        for process in started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(30)
            if process.poll() is None:
                process.kill()


def upload(port: int, path: Path, metrics: list[str] | None = None) -> str:
    data = {"metrics": ",".join(metrics)} if metrics else {}
    with path.open("rb") as handle:
        response = httpx.post(f"http://127.0.0.1:{port}/v1/batches", files={"file": (path.name, handle)},
                              data=data, timeout=120)
    response.raise_for_status()
    return response.json()["id"]


def wait_done(port: int, batch_id: str, done: int | None = None, poll_s: float = 0.2) -> dict:
    """Poll until `done` rows are finished (or, without it, until the job is no longer queued/running)."""
    while True:
        status = httpx.get(f"http://127.0.0.1:{port}/v1/batches/{batch_id}", timeout=30).json()
        if (done is not None and status["done"] >= done) or status["status"] not in ("queued", "running"):
            return status
        time.sleep(poll_s)
