"""bench/drill_service.serve: a drill measures the server it started, never another one on the same port."""
from __future__ import annotations

import importlib.util
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

SPEC = importlib.util.spec_from_file_location("drill_service", Path(__file__).resolve().parents[1] / "bench" /
                                              "drill_service.py")
assert SPEC is not None and SPEC.loader is not None
drill_service = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(drill_service)
serve = drill_service.serve


class Healthy(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_port_already_served_by_someone_else_is_an_error_not_their_server(tmp_path):
    other = ThreadingHTTPServer(("127.0.0.1", 0), Healthy)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        with pytest.raises(RuntimeError, match="taken"):
            serve(other.server_address[1], f"sqlite:///{tmp_path}/jobs.db")
    finally:
        other.shutdown()
        other.server_close()


def test_the_server_it_started_is_returned_once_it_answers(tmp_path):
    with ThreadingHTTPServer(("127.0.0.1", 0), Healthy) as probe:
        port = probe.server_address[1]  # free once closed
    process = serve(port, f"sqlite:///{tmp_path}/jobs.db")
    try:
        assert process.poll() is None
    finally:
        process.terminate()
        process.wait(timeout=30)
