"""Hostile-input drill: sends inputs that once crashed the service to a real `ragmeter serve` and prints each status.

    python bench/hostile_drill.py            # starts a service on a free port with a fresh SQLite store
    python bench/hostile_drill.py --url URL  # or drills a running one

Any 5xx is a failure; the script exits 1 if it sees one.
"""
from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SAMPLE = '{"question": "Q?", "contexts": ["C."], "answer": "A."}'
ROW = b'{"question": "Q?", "contexts": ["C."], "answer": "A."}\n'


def cases() -> list[tuple[str, str, dict]]:
    """(name, method path, httpx request arguments)."""
    raw = {"headers": {"content-type": "application/json"}}
    return [
        ("gate.threshold NaN", "POST /v1/evaluate",
         {**raw, "content": '{"samples": [' + SAMPLE + '], "gate": {"threshold": NaN}}'}),
        ("gate.threshold -Infinity", "POST /v1/evaluate",
         {**raw, "content": '{"samples": [' + SAMPLE + '], "gate": {"threshold": -Infinity}}'}),
        ("min_scores false", "POST /v1/evaluate",
         {**raw, "content": '{"samples": [' + SAMPLE + '], "gate": {"min_scores": {"faithfulness": false}}}'}),
        ("unknown gate key", "POST /v1/evaluate",
         {**raw, "content": '{"samples": [' + SAMPLE + '], "gate": {"x": 1}}'}),
        ("metrics []", "POST /v1/evaluate", {**raw, "content": '{"samples": [' + SAMPLE + '], "metrics": []}'}),
        ("lone surrogate in answer", "POST /v1/evaluate",
         {**raw, "content": '{"samples": [{"question": "Q?", "contexts": ["C."], "answer": "A\\ud800"}]}'}),
        ("lone surrogate in id", "POST /v1/evaluate",
         {**raw, "content": '{"samples": [{"id": "\\udfff", "question": "Q?", "contexts": ["C."], "answer": "A."}]}'}),
        ("JSON nested 100,000 deep", "POST /v1/evaluate", {**raw, "content": "[" * 100_000 + "]" * 100_000}),
        ("not JSON", "POST /v1/evaluate", {**raw, "content": "{"}),
        ("upload: mapping=true", "POST /v1/batches",
         {"files": {"file": ("x.jsonl", ROW)}, "data": {"mapping": "true"}}),
        ("upload: mapping=[1,2]", "POST /v1/batches",
         {"files": {"file": ("x.jsonl", ROW)}, "data": {"mapping": "[1,2]"}}),
        ("upload: mapping question=5", "POST /v1/batches",
         {"files": {"file": ("x.jsonl", ROW)}, "data": {"mapping": '{"question": 5}'}}),
        ("upload: metrics=,,,", "POST /v1/batches", {"files": {"file": ("x.jsonl", ROW)}, "data": {"metrics": ",,,"}}),
        ("upload: nested JSON", "POST /v1/batches", {"files": {"file": ("x.json", b"[" * 100_000 + b"]" * 100_000)}}),
        ("upload: 10,000 contexts in a row", "POST /v1/batches",
         {"files": {"file": ("x.jsonl", json.dumps({"question": "Q?", "contexts": ["C."] * 10_000,
                                                     "answer": "A."}).encode())}}),
        ("upload: 1.25 M-character answer", "POST /v1/batches",
         {"files": {"file": ("x.jsonl", json.dumps({"question": "Q?", "contexts": ["C."],
                                                     "answer": "A" * 1_250_000}).encode())}}),
        ("upload: not UTF-8", "POST /v1/batches",
         {"files": {"file": ("x.csv", "q,c,a\nq,c,caf\xe9\n".encode("latin-1"))}}),
        # Bounded work per request, ids, deletion (issue 23, second pass).
        ("sample over the work budget: 100 contexts x 50,000", "POST /v1/evaluate",
         {**raw, "content": json.dumps({"samples": [{"question": "Q?", "contexts": ["C" * 50_000] * 100,
                                                     "answer": "A" * 20_000}]})}),
        ("4,400-digit integer id", "POST /v1/evaluate",
         {**raw, "content": '{"samples": [{"id": ' + "9" * 4400 + ', "question": "Q?", "contexts": ["C."], '
                            '"answer": "A."}]}'}),
        ("upload: CSV with 60,000 header columns", "POST /v1/batches",
         {"files": {"file": ("wide.csv", (",".join(f"c{i}" for i in range(60_000)) + "\n").encode())}}),
        ("upload: ids 7 and \"7\"", "POST /v1/batches",
         {"files": {"file": ("ids.jsonl", ROW.replace(b"{", b'{"id": 7, ') + ROW.replace(b"{", b'{"id": "7", '))}}),
        ("upload: formula id", "POST /v1/batches",
         {"files": {"file": ("ids.jsonl", ROW.replace(b"{", b'{"id": "=cmd|calc", '))}}),
        ("delete an unknown batch", "DELETE /v1/batches/does-not-exist?purge=true", {}),
        ("unknown batch", "GET /v1/batches/does-not-exist", {}),
        ("results in an unknown format", "GET /v1/batches/does-not-exist/results?format=xlsx", {}),
        ("foreign Host header", "GET /healthz", {"headers": {"host": "evil.example"}}),
    ]


def downloads(client: httpx.Client) -> list[tuple[str, int]]:
    """A batch with a non-ASCII file name, mixed and huge ids and formula cells, downloaded in every format."""
    rows = [{"id": 1, "question": "=cmd|' /C calc'!A0", "contexts": ["C."], "answer": "=HYPERLINK(\"x\")"},
            {"id": "b", "question": "Q?", "contexts": ["C."], "answer": "A."},
            {"id": 10**30, "question": "Q?", "contexts": ["C."], "answer": "@SUM(1)"}]
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    batch = client.post("/v1/batches", files={"file": ("données é.jsonl", body)}).json()
    for _ in range(200):
        if client.get(f"/v1/batches/{batch['id']}").json()["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    return [(f"download {fmt} (non-ASCII name, mixed ids, formulas)",
             client.get(f"/v1/batches/{batch['id']}/results", params={"format": fmt}).status_code)
            for fmt in ("csv", "parquet", "jsonl")]


def declared_gigabyte(url: str) -> tuple[str, int | str]:
    """Headers of a 1 GB upload and a few bytes of body: the answer must come before the body is read."""
    host, port = url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(b"POST /v1/batches HTTP/1.1\r\nHost: " + host.encode() + b"\r\nContent-Length: "
                     + str(1 << 30).encode() + b"\r\nContent-Type: multipart/form-data; boundary=b\r\n\r\n--b")
        status = conn.recv(64).split(b" ")[1].decode()
    return "upload: 1 GB declared, body not sent", int(status) if status.isdigit() else status


def serve() -> tuple[subprocess.Popen, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    db = f"sqlite:///{Path(tempfile.mkdtemp()) / 'drill.db'}"
    env = {"RAGMETER_DB": db, "RAGMETER_JUDGE": "embedded", "PATH": "", "RAGMETER_ALLOWED_HOSTS": '["127.0.0.1"]'}
    process = subprocess.Popen([sys.executable, "-m", "ragmeter.service.cli", "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("service did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="drill a running service instead of starting one")
    args = parser.parse_args()
    process, url = (None, args.url) if args.url else serve()
    results: list[tuple[str, int | str]] = []
    try:
        with httpx.Client(base_url=url, timeout=60) as client:
            for name, target, request in cases():
                method, path = target.split(" ", 1)
                try:
                    results.append((name, client.request(method, path, **request).status_code))
                except httpx.HTTPError as exc:
                    results.append((name, f"no answer: {type(exc).__name__}"))
            results += downloads(client)
        results.append(declared_gigabyte(url))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=10)
    for name, status in results:
        print(f"{status!s:>4}  {name}")
    failures = [r for r in results if not isinstance(r[1], int) or r[1] >= 500]
    print(f"{len(results)} cases, {len(failures)} with a 5xx or no answer")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
