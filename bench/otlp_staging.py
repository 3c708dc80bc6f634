"""The cost of an OTLP export request at POST /v1/traces, with a trace split over two requests.

Sends N traces of three spans (a chain root, a retriever and an LLM child), each as two requests as a simple span
processor sends them: the two children first (staged until the root comes), then the root (which takes them and
maps the trace); then N more traces each whole in one request, as a batch span processor mostly sends them.
Through the app in process (FastAPI's test client), on SQLite and on PostgreSQL (a database it creates and drops);
`accept` is replaced by a no-op, so the numbers are decoding, staging and mapping, not the record's own INSERT.
Prints mean, p50 and p99 milliseconds per request of each kind, and the load average.

    .venv/bin/python bench/otlp_staging.py --traces 1000
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient

from ragmeter.service.server.api import traces
from ragmeter.service.server.app import create_app
from ragmeter.service.server.traffic.ingest import Accepted
from ragmeter.service.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' stub judge and trace builders
from tests.helpers import StubJudge  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drill_service import fresh_database  # noqa: E402
from tests.test_otlp import langchain_trace, request  # noqa: E402

HEADERS = {"Content-Type": "application/x-protobuf"}


async def no_accept(request, tenant, records, app=None, within=None) -> Accepted:
    """The traces' claims in a transaction of their own (the real accept runs them in the records' one)."""
    if within is not None:
        await asyncio.to_thread(claim, request.app.state.store.sync, within)
    return Accepted(accepted=len(records), ids=[str(r.id) for r in records])


def claim(store, within) -> None:
    with store.begin() as s:
        within(s)


def bodies(n: int, first: int = 1) -> list[tuple[bytes, bytes, bytes]]:
    """Per trace (ids from `first` on): (children request, root request, the whole trace), three spans in all."""
    out = []
    for i in range(first, first + n):
        root, retriever, _, llm = langchain_trace(uuid.UUID(int=i).bytes)
        llm.parent_span_id = root.span_id
        out.append((request(retriever, llm).SerializeToString(), request(root).SerializeToString(),
                    request(root, retriever, llm).SerializeToString()))
    return out


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"mean {statistics.fmean(values) * 1e3:6.2f}  p50 {ordered[len(ordered) // 2] * 1e3:6.2f}  " \
           f"p99 {p99 * 1e3:6.2f} ms"


def run(kind: str, n: int) -> None:
    traces.accept = no_accept  # type: ignore[assignment]
    with (fresh_database(kind == "postgresql") as url,
          TestClient(create_app(Settings(db=url), judge=StubJudge())) as client):
        work = bodies(n)
        for children, root, _ in bodies(20, first=n + 1):  # warm up: imports, connections, statements' plans
            client.post("/v1/traces", content=children, headers=HEADERS)
            client.post("/v1/traces", content=root, headers=HEADERS)
        staged, rooted, whole = [], [], []
        for children, root, _ in work:
            started = time.perf_counter()
            first = client.post("/v1/traces", content=children, headers=HEADERS)
            middle = time.perf_counter()
            second = client.post("/v1/traces", content=root, headers=HEADERS)
            staged.append(middle - started)
            rooted.append(time.perf_counter() - middle)
            assert first.status_code == second.status_code == 200, (first.text, second.text)
            assert not second.content, "the trace was not mapped whole"  # no partial_success: all spans mapped
        for _, _, trace in bodies(n, first=n + 100):
            started = time.perf_counter()
            answer = client.post("/v1/traces", content=trace, headers=HEADERS)
            whole.append(time.perf_counter() - started)
            assert answer.status_code == 200 and not answer.content, answer.content
        print(f"{kind:10s} children request: {ms(staged)}")
        print(f"{kind:10s} root request:     {ms(rooted)}")
        print(f"{kind:10s} whole trace:      {ms(whole)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=1000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for kind in (["sqlite", "postgresql"] if args.db == "both" else [args.db]):
        run(kind, args.traces)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
