"""A throwaway local Ray head in a child process (`ray start --head --block`), for tests and drills.

Ray's session files and its ray_current_cluster file (where a later plain `ray.init()` looks for a
cluster to join) go to a temp folder of the head's own, removed when it stops: nothing it leaves
behind points anyone at a dead head.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


class RayHeadFailed(RuntimeError):
    """The head could not start; the message says why."""


@dataclass
class RayHead:
    process: subprocess.Popen
    address: str  # host:port, for RAY_ADDRESS
    temp_dir: Path  # Ray's sessions and its ray_current_cluster file

    def stop(self) -> None:
        """Stop the head and every process of its group, then remove its temp folder."""
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        with contextlib.suppress(ProcessLookupError):  # raylet, GCS and workers are in the head's group
            os.killpg(self.process.pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def start_ray_head(ports: dict[str, int], cpus: int = 2, start_timeout_s: float = 60.0) -> RayHead:
    """Start a head with `cpus` logical CPUs listening on `ports` (`ray start` flag -> port); RayHeadFailed if not."""
    ray_cli = shutil.which("ray", path=os.path.dirname(sys.executable))
    if ray_cli is None:
        raise RayHeadFailed("ray is not installed (pip install 'ragmeter[ray]')")
    # Short: Ray's Unix sockets live under it, and their paths may not exceed 107 bytes.
    temp_dir = Path(tempfile.mkdtemp(prefix="rayhead-", dir="/tmp"))
    args = [ray_cli, "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--include-dashboard", "false",
            "--num-cpus", str(cpus), "--object-store-memory", str(200 * 1024 * 1024), "--disable-usage-stats",
            "--temp-dir", str(temp_dir)]
    for flag, port in ports.items():
        args += [flag, str(port)]
    log = temp_dir / "ray-start.log"  # a file, not a pipe: a head that logs much would block on a full pipe
    # No token auth on this loopback head, even where ~/.ray/auth_token exists (Ray would turn it on, and
    # drivers joining by RAY_ADDRESS would then be refused).
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    head = RayHead(process, f"127.0.0.1:{ports['--port']}", temp_dir)
    deadline = time.monotonic() + start_timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            problem = log.read_text(errors="replace")[-500:]
            head.stop()
            raise RayHeadFailed(f"ray start failed: {problem}")
        try:
            socket.create_connection(("127.0.0.1", ports["--port"]), timeout=1).close()
            return head
        except OSError:
            time.sleep(0.2)  # the head opens its port once its GCS is up
    head.stop()
    raise RayHeadFailed(f"ray head did not open its port in {start_timeout_s:g} s")


@contextlib.contextmanager
def joined_ray_head(ports: dict[str, int], cpus: int = 2) -> Iterator[str]:
    """A head started as above that this process joins (RAY_ADDRESS) while the block runs; its address.

    On exit this process leaves Ray, the head stops and RAY_ADDRESS is what it was before."""
    head = start_ray_head(ports, cpus)
    previous = os.environ.get("RAY_ADDRESS")
    os.environ["RAY_ADDRESS"] = head.address
    try:
        yield head.address
    finally:
        import ray

        ray.shutdown()
        head.stop()
        if previous is None:
            os.environ.pop("RAY_ADDRESS", None)
        else:
            os.environ["RAY_ADDRESS"] = previous
