"""Slow or stalled clients: incomplete request headers close the connection, a stalled body gets 408."""
from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest
from ragmeter.service.settings import Settings

from .conftest import serving
from .helpers import as_file, rows

# Tiny limits; each socket waits far longer (SAFETY_S) for the server, so a missing timeout fails, never hangs.
TIMEOUTS = Settings(header_timeout_s=0.5, body_timeout_s=0.5)
SAFETY_S = 20


@pytest.fixture(scope="module")
def slow_server():
    with serving(TIMEOUTS) as url:
        yield url


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=SAFETY_S)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (socket.timeout if it never does)."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.mark.parametrize("sent", [b"", b"GET /heal", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"])
def test_a_connection_without_complete_headers_is_closed(slow_server, sent):
    with connect(slow_server) as sock:
        sock.sendall(sent)
        assert read_until_closed(sock) == b""


def test_a_request_after_an_incomplete_one_on_a_kept_alive_connection_is_also_timed(slow_server):
    with connect(slow_server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\n")
        received = read_until_closed(sock)
    assert received.startswith(b"HTTP/1.1 200") and received.count(b"HTTP/1.1") == 1


def test_a_body_shorter_than_its_content_length_gets_408_and_the_connection_closed(slow_server):
    body = json.dumps({"samples": [{"question": "q", "answer": "a", "retrieved_contexts": ["c"]}]}).encode()
    with connect(slow_server) as sock:
        sock.sendall(b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (len(body) + 10) + body)
        received = read_until_closed(sock)
    head, _, payload = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"connection: close" in head.lower()
    assert "RAGMETER_BODY_TIMEOUT_S" in json.loads(payload)["detail"]


def test_an_upload_at_normal_speed_is_not_cut_off(slow_server):
    content = as_file(rows(5000), "jsonl")
    assert len(content) > 8 * 65536  # many reads of the body, each within the idle limit
    with httpx.Client(base_url=slow_server, timeout=SAFETY_S) as client:
        response = client.post("/v1/batches", files={"file": ("set.jsonl", content)},
                               data={"metrics": "faithfulness"})
        assert response.status_code == 202, response.text
        assert client.get(f"/v1/batches/{response.json()['id']}").json()["total"] == 5000
        # A request on a fresh connection is served as usual.
        assert client.get("/healthz").status_code == 200


def test_a_body_the_service_never_reads_cannot_hold_the_connection_after_the_answer(slow_server):
    with connect(slow_server) as sock:  # /healthz answers at once, without reading the promised body
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        assert read_until_closed(sock).startswith(b"HTTP/1.1 200")
