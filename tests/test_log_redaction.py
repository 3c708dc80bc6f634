"""Keys in query strings never reach the logs; the start-up log says which judge and executor are active."""
from __future__ import annotations

import io
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn

from ragmeter.service.logs import REDACTED, RedactSecrets, log_config, redact
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .helpers import StubJudge

KEY = "rk_" + "s3cretKeyValue0123456789abcdef"
LOGGERS = ("ragmeter", "uvicorn", "uvicorn.error", "uvicorn.access")


@contextmanager
def served_with_logs(settings: Settings) -> Iterator[tuple[str, io.StringIO]]:
    """The app served as `ragmeter serve` serves it (its JSON log config), writing its log into a buffer."""
    saved = {name: (lg.handlers[:], lg.filters[:], lg.level, lg.propagate)
             for name, lg in ((n, logging.getLogger(n)) for n in LOGGERS)}
    buffer = io.StringIO()
    config = log_config("INFO")
    config["handlers"]["default"]["stream"] = buffer
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings, judge=StubJudge()), log_config=config))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started and thread.is_alive():
            time.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", buffer
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        for name, (handlers, filters, level, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers[:], logger.filters[:] = handlers, filters
            logger.setLevel(level)
            logger.propagate = propagate


def test_a_key_in_the_query_string_is_redacted_from_every_log_line():
    with served_with_logs(Settings(api_keys={"alpha": KEY})) as (base, buffer):
        assert httpx.get(f"{base}/", params={"api_key": KEY}).status_code == 200
        assert httpx.get(f"{base}/v1/batches", params={"format": "json", "api_key": KEY}).status_code == 200
        assert httpx.get(f"{base}/v1/batches", params={"API_KEY": KEY + "x"}).status_code == 401
        assert httpx.get(f"{base}/v1/no-such-route", params={"api_key": KEY, "token": "tok-123456"}).status_code == 404
    log = buffer.getvalue()
    lines = [json.loads(line) for line in log.splitlines()]
    access = [entry["message"] for entry in lines if entry["logger"] == "uvicorn.access"]
    assert len(access) == 4  # the requests were logged, with their query strings
    assert KEY not in log and "s3cretKeyValue" not in log and "tok-123456" not in log
    assert f"api_key={REDACTED}" in access[0] and f"format=json&api_key={REDACTED}" in access[1]
    assert f"API_KEY={REDACTED}" in access[2]


def test_the_start_up_log_names_the_judge_its_model_and_the_executor():
    with served_with_logs(Settings()) as (_, buffer):
        pass
    messages = [json.loads(line)["message"] for line in buffer.getvalue().splitlines()]
    assert "judge: stub, no model named" in messages
    assert any(m.startswith("batch executor: local") for m in messages)


def test_redaction_keeps_other_parameters_and_the_access_log_record_shape():
    kept = "GET /v1/batches?monkey=1&keys=2&api_key="
    assert redact(f"{kept}abc&x=3") == f"{kept}{REDACTED}&x=3"
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5", "GET", f"/?api_key={KEY}", "1.1", 200), None)
    assert RedactSecrets().filter(record) and record.args == ("127.0.0.1:5", "GET", f"/?api_key={REDACTED}", "1.1", 200)
