"""What the availability, fault and load drills share: a `ragmeter serve` process, latency probes, RSS readings."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import create_engine, text


POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def fresh_database(pg: bool, prefix: str = "ragmeter_bench") -> Iterator[str]:
    """A fresh database's URL: a temporary SQLite file, or (`pg`) a PostgreSQL database dropped afterwards."""
    if not pg:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/{prefix}.db"
        return
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, db: str, log: Path | str | None = None, **env: str) -> subprocess.Popen:
    """`ragmeter serve` on a loopback port with a store and extra RAGMETER_* settings; waits for /healthz.

    Its output goes to `log`, by default a file beside the SQLite store."""
    return serve_niced(0, port, db, log, env)


def serve_niced(nice: int, port: int, db: str, log: Path | str | None, env: dict[str, str]) -> subprocess.Popen:
    """`serve` at a lower OS priority (`nice`; 0: as this process)."""
    environ = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    environ.update(RAGMETER_DB=db, **env)
    # The server writes to its own copy of the file; this one is closed once it has started.
    with open(log or Path(db.removeprefix("sqlite:///")).with_suffix(f".{port}.log"), "ab") as sink:
        niced = ["nice", "-n", str(nice)] if nice else []  # nice execs the server: the pid is the server's
        process = subprocess.Popen([*niced, sys.executable, "-m", "ragmeter.service.cli", "serve", "--port", str(port)],
                                   env=environ, stdout=sink, stderr=sink)
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"service exited with status {process.returncode} (port {port} taken?); see {sink.name}")
        # Another server on the port (a drill's free port is free only until someone binds it) answers /healthz
        # too, and the drill would measure it: only our own process's listening socket counts.
        try:
            if listens(process.pid, port) and httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                return process
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"service did not start; see {sink.name}")


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` has a TCP socket listening on `port` (from /proc, as rss_mb reads it).

    Not psutil: it is a test extra, and the drills run on the base install."""
    listening = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        rows = table.read_text().splitlines()[1:] if table.exists() else []
        for fields in (row.split() for row in rows):
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                listening.add(f"socket:[{fields[9]}]")
    try:
        descriptors = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    return any(_link(fd) in listening for fd in descriptors)


def _link(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile
        return ""


def rss_mb(pid: int) -> float:
    """Resident memory of one process, MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found + [g for c in found for g in children(c)]


class Sampler(threading.Thread):
    """Every `every` s until stopped: the server's RSS, its children's RSS, and, if given, a probe's latency."""

    def __init__(self, pid: int, probe=None, every: float = 0.05):
        super().__init__(daemon=True)
        self.pid, self.probe, self.every = pid, probe, every
        self.rss: list[float] = []
        self.child_rss: list[float] = []
        self.latencies: list[float] = []
        self.failures = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.rss.append(rss_mb(self.pid))
            self.child_rss.append(sum(rss_mb(c) for c in children(self.pid)))
            if self.probe is not None:
                started = time.perf_counter()
                try:
                    ok = self.probe()
                except httpx.HTTPError:
                    ok = False
                self.latencies.append(time.perf_counter() - started)
                self.failures += not ok
            self.halt.wait(self.every)

    def stop(self) -> Sampler:
        self.halt.set()
        self.join()
        return self


def latency_ms(values: list[float]) -> dict:
    """n, p50, p99 and max of latencies given in seconds, as ms."""
    if not values:
        return {"n": 0}
    a = np.array(values) * 1000
    return {"n": len(a), "p50": round(float(np.percentile(a, 50)), 1), "p99": round(float(np.percentile(a, 99)), 1),
            "max": round(float(a.max()), 1)}
