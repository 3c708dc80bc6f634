"""The shared judge simulator (../shared/judge-sim) as a subprocess on a free loopback port, for tests."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

SIM = Path(__file__).resolve().parents[2] / "shared" / "judge-sim" / "judge_sim.py"


class JudgeSim:
    """Counts every call and token it answers; `stats()` reads the counters, `reset()` zeroes them."""

    def __init__(self, *options: str):
        if not SIM.exists():
            import pytest

            pytest.skip(f"the judge simulator is not at {SIM} (../shared beside the checkout)")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.root = f"http://127.0.0.1:{port}"
        self.url = f"{self.root}/v1"
        self.process = subprocess.Popen([sys.executable, str(SIM), "--port", str(port), "--latency-ms", "0",
                                         "--embed-latency-ms", "0", *options],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Generous: on a loaded 2-core machine a fresh interpreter can take several seconds to listen.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        code = self.process.poll()
        self.stop()
        raise RuntimeError(f"the judge simulator did not start (exit code {code})")

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.root}/stats", timeout=2) as reply:
            return json.loads(reply.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.root}/stats/reset", method="POST"), timeout=2).close()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=5)
