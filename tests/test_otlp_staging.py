"""OTLP spans waiting for their trace's root: in the database, so they survive a restart, are shared by replicas,
and a trace is mapped exactly once; on SQLite and PostgreSQL."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import HTTPException
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from ragmeter.service.server.api import traces
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.store import Store
from ragmeter.service.server.traffic import otlp
from ragmeter.service.server.traffic.assembly import Collected, TraceAssembler
from ragmeter.service.server.traffic.staging import dump, load
from ragmeter.service.server.traffic.tables import Record, StagedSpan
from ragmeter.service.settings import Settings

from .helpers import StubJudge
from .test_otlp import DOCS, KEYS, QUESTION, FakeAccept, langchain_trace, request

HEADERS = {"Content-Type": "application/x-protobuf", "Authorization": "Bearer rk_team_a_key"}


@pytest.fixture
def accepted(monkeypatch) -> FakeAccept:
    fake = FakeAccept()
    monkeypatch.setattr(traces, "accept", fake)
    return fake


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request, job_store) -> str:
    return job_store if request.param == "sqlite" else request.getfixturevalue("pg_url")


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2026, 12, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


@pytest.fixture
def stores() -> Iterator[Callable[[str], Store]]:
    opened: list[Store] = []

    def open_store(url: str) -> Store:
        opened.append(Store(url))
        return opened[-1]

    yield open_store
    for store in opened:
        store.close()


def spans(*items) -> list[otlp.SpanView]:
    return otlp.spans_of(request(*items))


def settled(assembler: TraceAssembler, tenant: str, out: Collected) -> Collected:
    """What the route does once `collect` returns, when the records were stored: the traces claimed."""
    assert assembler.staging is not None
    assembler.staging.settle_alone(tenant, out.staged)
    return out


def test_a_trace_split_over_requests_is_mapped_when_its_root_arrives(db, stores):
    assembler = TraceAssembler(CollectorRegistry(), staging_s=60, staging_spans=100)
    assembler.open(stores(db))
    assert assembler.staging is not None
    root, *children = langchain_trace()
    first = assembler.collect("t", spans(*children))
    assert first.records == [] and not first.rejected and assembler.staging.count() == 3
    assembler.collect("t", spans(*children))  # the exporter retried: nothing staged twice
    assert assembler.staging.count() == 3
    # Another tenant's trace of the same id never joins these spans.
    assert settled(assembler, "other-tenant", assembler.collect("other-tenant", spans(root))).rejected == \
        {"no_contexts": 1}
    # The process reading the staged spans dies before storing the record: they are still there for the retry.
    assert [r.retrieved_contexts for r in assembler.collect("t", spans(root)).records] == [DOCS]
    assert assembler.staging.count() == 3
    done = settled(assembler, "t", assembler.collect("t", spans(root)))
    assert [r.retrieved_contexts for r in done.records] == [DOCS] and assembler.staging.count() == 0
    late = assembler.collect("t", spans(*children[:1]))
    assert late.rejected == {"after_root": 1} and "after its trace's root" in late.message()
    assert assembler.collect("t", spans(root)).rejected == {"after_root": 1}  # a retried root: no second record
    assert assembler.staging.count() == 0


def test_waiting_spans_expire_and_are_bounded_and_counted(db, stores):
    clock = Clock()
    registry = CollectorRegistry()
    assembler = TraceAssembler(registry, staging_s=60, staging_spans=4)
    assembler.open(stores(db), clock, check_every_s=0)
    assert assembler.staging is not None

    def unmapped(reason: str) -> float | None:
        return registry.get_sample_value("ragmeter_otlp_spans_unmapped_total", {"reason": reason})

    assembler.collect("t", spans(*langchain_trace()[1:]))
    clock.advance(61)
    assembler.collect("t", spans(*langchain_trace(bytes(15) + b"\x01")[1:]))  # the request path drops the old
    assert unmapped("root_never_arrived") == 3
    third, *children = langchain_trace(bytes(15) + b"\x02")
    assembler.collect("t", spans(*children))  # 6 waiting > 4: the oldest trace goes, whole
    assert unmapped("staging_full") == 3 and assembler.staging.count() == 3
    assert [r.retrieved_contexts for r in settled(assembler, "t", assembler.collect("t", spans(third))).records] \
        == [DOCS]

    assembler.collect("t", spans(*langchain_trace(bytes(15) + b"\x03")[1:]))
    clock.advance(61)
    assert assembler.sweep() == 3 and unmapped("root_never_arrived") == 6 and assembler.staging.count() == 0
    # The sweep also forgot the trace mapped long ago: a straggler of it now waits (and will expire) instead.
    assert assembler.collect("t", spans(children[0])).rejected == {}


def test_between_request_path_checks_the_sweep_holds_the_limits(db, stores):
    clock = Clock()
    registry = CollectorRegistry()
    assembler = TraceAssembler(registry, staging_s=60, staging_spans=4)
    assembler.open(stores(db), clock, check_every_s=3600)  # the request path checks once, at its first request
    assert assembler.staging is not None
    root, *children = langchain_trace()
    assembler.collect("t", spans(*children))
    assembler.collect("t", spans(*langchain_trace(bytes(15) + b"\x01")[1:]))
    assert assembler.staging.count() == 6
    assert assembler.sweep() == 3 and assembler.staging.count() == 3
    assert registry.get_sample_value("ragmeter_otlp_spans_unmapped_total", {"reason": "staging_full"}) == 3
    # A root later than RAGMETER_OTLP_STAGING_S finds its spans expired even before a sweep dropped them.
    late_root, *late_children = langchain_trace(bytes(15) + b"\x02")
    assembler.collect("t", spans(*late_children))
    clock.advance(61)
    assert assembler.collect("t", spans(late_root)).rejected == {"no_contexts": 1}
    assert registry.get_sample_value("ragmeter_otlp_spans_unmapped_total", {"reason": "root_never_arrived"}) == 3


def test_a_span_is_stored_with_what_mapping_reads():
    span = spans(*langchain_trace())[3]
    span.attrs["blob"] = b"\x00\xff"
    span.events = [("gen_ai.choice", {"message": "hi", "n": [1, 2.5, True, None]})]
    assert load(dump(span)) == span
    assert len(dump(span)) < 1000


@contextmanager
def replica(url: str) -> Iterator[TestClient]:
    """One service process on the database at `url`, as another replica or a restarted one would be."""
    with TestClient(create_app(Settings(api_keys=KEYS, db=url), judge=StubJudge())) as client:
        yield client


def rejected(answer) -> int:
    assert answer.status_code == 200, answer.text
    return ExportTraceServiceResponse.FromString(answer.content).partial_success.rejected_spans


def test_staged_spans_survive_a_restart(db, accepted):
    root, *children = langchain_trace()
    with replica(db) as before:
        assert rejected(before.post("/v1/traces", content=request(*children).SerializeToString(),
                                    headers=HEADERS)) == 0
    with replica(db) as after:
        assert rejected(after.post("/v1/traces", content=request(root).SerializeToString(), headers=HEADERS)) == 0
    assert [(tenant, r.user_input, r.retrieved_contexts) for tenant, [r] in accepted.calls] == \
        [("team-a", QUESTION, DOCS)]


def test_two_replicas_assemble_a_trace_split_across_them_once(db, accepted):
    root, retriever, chain, llm = langchain_trace()
    with replica(db) as a, replica(db) as b:
        assert rejected(a.post("/v1/traces", content=request(retriever).SerializeToString(), headers=HEADERS)) == 0
        assert rejected(b.post("/v1/traces", content=request(chain, llm).SerializeToString(), headers=HEADERS)) == 0
        assert rejected(b.post("/v1/traces", content=request(root).SerializeToString(), headers=HEADERS)) == 0
        # The exporter retries the root at the other replica, and a straggler comes: neither makes a record.
        assert rejected(a.post("/v1/traces", content=request(root).SerializeToString(), headers=HEADERS)) == 1
        assert rejected(a.post("/v1/traces", content=request(llm).SerializeToString(), headers=HEADERS)) == 1
    [record] = accepted.records
    assert (record.user_input, record.retrieved_contexts) == (QUESTION, DOCS)


def roots_at_once(clients: tuple[TestClient, TestClient], traces_: list[list]) -> list[int]:
    """Each trace's children to one replica, then its root to both at the same moment; the spans each rejected."""
    for n, (_, *children) in enumerate(traces_):
        clients[n % 2].post("/v1/traces", content=request(*children).SerializeToString(), headers=HEADERS)
    late: list[int] = []

    def send(client: TestClient, start: threading.Barrier, body: bytes) -> None:
        start.wait()
        late.append(rejected(client.post("/v1/traces", content=body, headers=HEADERS)))

    for root, *_ in traces_:
        start = threading.Barrier(2)
        body = request(root).SerializeToString()
        threads = [threading.Thread(target=send, args=(client, start, body)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return late


def test_concurrent_roots_on_two_replicas_make_one_record_each(db, accepted):
    traces_ = [langchain_trace(bytes(15) + bytes([n])) for n in range(1, 9)]
    with replica(db) as a, replica(db) as b:
        late = roots_at_once((a, b), traces_)
    assert sorted(r.trace_id or "" for r in accepted.records) == sorted(t[0].trace_id.hex() for t in traces_)
    assert all(r.retrieved_contexts == DOCS for r in accepted.records)
    assert sorted(late) == [0] * len(traces_) + [1] * len(traces_)  # the other root: after_root


def test_concurrent_roots_store_one_record_per_trace(db, stores):
    """With the real accept: the claim is in the records' own transaction, and the loser's rolls back."""
    traces_ = [langchain_trace(bytes(15) + bytes([n])) for n in range(1, 5)]
    with replica(db) as a, replica(db) as b:
        late = roots_at_once((a, b), traces_)
    with stores(db).session() as s:
        stored = [(r.trace_id, r.sample["retrieved_contexts"]) for r in s.scalars(select(Record))]
    assert sorted(stored) == sorted((t[0].trace_id.hex(), DOCS) for t in traces_)
    assert sorted(late) == [0] * len(traces_) + [1] * len(traces_)


def test_a_refused_accept_leaves_the_staged_spans_as_they_were(db, monkeypatch, stores):
    async def full(request, tenant, records, app=None, within=None):
        raise HTTPException(429, "backlog full", headers={"Retry-After": "1"})

    def staged() -> list[tuple]:
        with stores(db).session() as s:
            return [tuple(row) for row in s.execute(select(StagedSpan.id, StagedSpan.span_id, StagedSpan.received_at,
                                                           StagedSpan.span).order_by(StagedSpan.id))]

    root, *children = langchain_trace()
    with replica(db) as a, replica(db) as b:
        a.post("/v1/traces", content=request(*children).SerializeToString(), headers=HEADERS)
        before = staged()
        monkeypatch.setattr(traces, "accept", full)
        refused = a.post("/v1/traces", content=request(root).SerializeToString(), headers=HEADERS)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
        assert staged() == before and len(before) == 3  # nothing claimed, nothing deleted
        fake = FakeAccept()
        monkeypatch.setattr(traces, "accept", fake)
        assert rejected(b.post("/v1/traces", content=request(root).SerializeToString(), headers=HEADERS)) == 0
    assert [r.retrieved_contexts for r in fake.records] == [DOCS]


def test_a_database_failure_is_a_503_the_exporter_retries(job_store, accepted, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from ragmeter.service.server.traffic.staging import SpanStaging

    def away(*args):
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(SpanStaging, "exchange", away)
    with replica(job_store) as client:
        answer = client.post("/v1/traces", content=request(*langchain_trace()).SerializeToString(), headers=HEADERS)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "1" and accepted.calls == []
