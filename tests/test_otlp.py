"""OTLP trace ingestion: decoding, mapping traces to records, the /v1/traces route and real SDK exports."""
from __future__ import annotations

import asyncio
import base64
import gzip
import importlib.util
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                     ExportTraceServiceResponse)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from prometheus_client import CollectorRegistry

from ragmeter.service.server.api import traces
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.store import Store
from ragmeter.service.server.traffic import otlp
from ragmeter.service.server.traffic.assembly import TraceAssembler
from ragmeter.service.server.traffic.ingest import Accepted, RecordIn
from ragmeter.service.server.traffic.spans import Unmapped, map_trace
from ragmeter.service.settings import Settings

from .conftest import serving
from .helpers import StubJudge

TRACE = bytes.fromhex("5b8efff798038103d269b633813fc60c")
QUESTION = "When was the Eiffel Tower completed?"
DOCS = ["The Eiffel Tower was completed in 1889 for the World's Fair.", "It is 330 metres tall."]
ANSWER = "It was completed in 1889."


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(v) for v in value]))
    return AnyValue(string_value=value)


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def span(n: int, parent: int | None, name: str, attrs: dict[str, Any], events: dict[str, dict] | None = None,
         trace: bytes = TRACE) -> Span:
    """Span number n (its id), child of span `parent`; starts at n seconds, ends at 100 - n (parents end last)."""
    return Span(trace_id=trace, span_id=n.to_bytes(8, "big"),
                parent_span_id=parent.to_bytes(8, "big") if parent is not None else b"", name=name,
                start_time_unix_nano=1_700_000_000_000_000_000 + n * 10**9,
                end_time_unix_nano=1_700_000_000_000_000_000 + (100 - n) * 10**9, attributes=kvs(attrs),
                events=[Span.Event(name=k, attributes=kvs(v)) for k, v in (events or {}).items()])


def request(*spans: Span, service: str = "tower-faq") -> ExportTraceServiceRequest:
    resource = Resource(attributes=kvs({"service.name": service, "service.version": "1.4.2"}))
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource,
                                                                   scope_spans=[ScopeSpans(spans=list(spans))])])


def mapped(*spans: Span) -> RecordIn | Unmapped:
    return map_trace(otlp.spans_of(request(*spans)))


def documents(docs: list[str], prefix: str = "retrieval.documents") -> dict[str, str]:
    return {f"{prefix}.{i}.document.content": d for i, d in enumerate(docs)}


def langchain_trace(trace: bytes = TRACE) -> list[Span]:
    """LangChain through OpenInference: RetrievalQA chain -> retriever, -> stuff chain -> chat model."""
    return [
        span(1, None, "RetrievalQA", {"openinference.span.kind": "CHAIN", "input.mime_type": "application/json",
                                      "input.value": json.dumps({"query": QUESTION}),
                                      "output.value": json.dumps({"query": QUESTION, "result": ANSWER}),
                                      "session.id": "s-1", "metadata": json.dumps({"prompt_version": "v3"})},
             trace=trace),
        span(2, 1, "VectorStoreRetriever", {"openinference.span.kind": "RETRIEVER", "input.value": QUESTION,
                                            **documents(DOCS)}, trace=trace),
        span(3, 1, "StuffDocumentsChain", {"openinference.span.kind": "CHAIN", "input.value": "{}"}, trace=trace),
        span(4, 3, "ChatOpenAI", {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini",
                                  "llm.input_messages.0.message.role": "system",
                                  "llm.input_messages.0.message.content": "Use the context: " + DOCS[0],
                                  "llm.input_messages.1.message.role": "user",
                                  "llm.input_messages.1.message.content": QUESTION,
                                  "llm.output_messages.0.message.role": "assistant",
                                  "llm.output_messages.0.message.content": ANSWER}, trace=trace),
    ]


# --- mapping ----------------------------------------------------------------------------------------------------

def test_a_langchain_shaped_trace_maps_to_its_question_contexts_and_answer():
    record = mapped(*langchain_trace())
    assert isinstance(record, RecordIn)
    assert (record.user_input, record.retrieved_contexts, record.response) == (QUESTION, DOCS, ANSWER)
    assert record.trace_id == TRACE.hex() and record.id == TRACE.hex()  # a retried export is one record
    assert record.app == "tower-faq"
    assert record.metadata == {"prompt_version": "v3", "session_id": "s-1", "model": "gpt-4o-mini",
                               "app_version": "1.4.2"}
    assert record.timestamp is not None and record.timestamp.timestamp() == pytest.approx(1_700_000_099)


def test_documents_keep_their_index_order_across_retrievers_and_a_reranker_replaces_them():
    shuffled = {"retrieval.documents.10.document.content": "tenth", "retrieval.documents.2.document.content": "second"}
    chain = span(1, None, "q", {"openinference.span.kind": "CHAIN", "input.value": QUESTION, "output.value": ANSWER})
    first = span(2, 1, "r1", {"openinference.span.kind": "RETRIEVER", **shuffled})
    second = span(3, 1, "r2", {"openinference.span.kind": "RETRIEVER", **documents(["third", "second"])})
    record = mapped(chain, second, first)
    assert isinstance(record, RecordIn) and record.retrieved_contexts == ["second", "tenth", "third"]
    rerank = span(4, 1, "rerank", {"openinference.span.kind": "RERANKER",
                                   **documents(["tenth"], prefix="reranker.output_documents")})
    record = mapped(chain, first, second, rerank)
    assert isinstance(record, RecordIn) and record.retrieved_contexts == ["tenth"]


def test_a_llamaindex_shaped_trace_under_an_http_span():
    """LlamaIndex's query engine: query -> retrieve, synthesize -> LLM, inside the web framework's own root span."""
    record = mapped(
        span(1, None, "POST /ask", {"http.method": "POST"}),
        span(2, 1, "query", {"openinference.span.kind": "CHAIN", "input.value": QUESTION, "output.value": ANSWER}),
        span(3, 2, "retrieve", {"openinference.span.kind": "RETRIEVER", "input.value": QUESTION, **documents(DOCS)}),
        span(4, 2, "synthesize", {"openinference.span.kind": "CHAIN", "input.value": QUESTION}),
        span(5, 4, "OpenAI.chat", {"openinference.span.kind": "LLM",
                                   "llm.input_messages.0.message.role": "user",
                                   "llm.input_messages.0.message.content": f"Context: {DOCS}\nQuery: {QUESTION}",
                                   "output.value": "assistant: " + ANSWER}))
    assert isinstance(record, RecordIn)
    assert (record.user_input, record.retrieved_contexts, record.response) == (QUESTION, DOCS, ANSWER)


def test_without_a_chain_the_retriever_query_and_the_llm_answer_are_used():
    record = mapped(
        span(1, None, "handler", {}),
        span(2, 1, "retrieve", {"openinference.span.kind": "RETRIEVER", "input.value": QUESTION, **documents(DOCS),
                                "output.value": json.dumps({"documents": DOCS})}),
        span(3, 1, "llm", {"openinference.span.kind": "LLM",
                           "llm.input_messages.0.message.role": "user",
                           "llm.input_messages.0.message.content": f"{DOCS[0]}\n\n{QUESTION}",
                           "llm.output_messages.0.message.role": "assistant",
                           "llm.output_messages.0.message.content": ANSWER}))
    assert isinstance(record, RecordIn)
    assert (record.user_input, record.response) == (QUESTION, ANSWER)  # the query, not the stuffed prompt


@pytest.mark.parametrize("value, expected", [
    (json.dumps({"input": QUESTION, "chat_history": []}), QUESTION),
    (json.dumps({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": QUESTION}]}),
     QUESTION),
    (json.dumps([["human", "hello"], ["ai", "hi"], ["human", QUESTION]]), QUESTION),
    (json.dumps({"lc_input": {"question": QUESTION}}), QUESTION),
    (json.dumps(QUESTION), QUESTION),
])
def test_a_json_chain_input_gives_the_users_text(value, expected):
    record = mapped(span(1, None, "chain", {"openinference.span.kind": "CHAIN", "input.value": value,
                                            "output.value": ANSWER}),
                    span(2, 1, "r", {"openinference.span.kind": "RETRIEVER", **documents(DOCS)}))
    assert isinstance(record, RecordIn) and record.user_input == expected


def test_a_genai_conventions_trace():
    """OpenTelemetry GenAI: a retrieval span with its documents, a chat span with input and output messages."""
    record = mapped(
        span(1, None, "answer_question", {}),
        span(2, 1, "retrieval", {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.query.text": QUESTION,
                                 "gen_ai.retrieval.documents": json.dumps(
                                     [{"id": "a", "score": 0.9, "content": DOCS[0]},
                                      {"id": "b", "score": 0.7, "content": DOCS[1]}])}),
        span(3, 1, "chat gpt-4o", {
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
            "gen_ai.conversation.id": "conv-7",
            "gen_ai.input.messages": json.dumps([
                {"role": "system", "parts": [{"type": "text", "content": "Use: " + DOCS[0]}]},
                {"role": "user", "parts": [{"type": "text", "content": QUESTION}]}]),
            "gen_ai.output.messages": json.dumps([
                {"role": "assistant", "parts": [{"type": "text", "content": ANSWER}], "finish_reason": "stop"}])}))
    assert isinstance(record, RecordIn)
    assert (record.user_input, record.retrieved_contexts, record.response) == (QUESTION, DOCS, ANSWER)
    assert record.metadata["model"] == "gpt-4o" and record.metadata["session_id"] == "conv-7"


def test_genai_prompt_and_completion_as_events_and_openllmetry_attributes():
    retrieval = span(2, 1, "retrieval", {"gen_ai.operation.name": "retrieval",
                                         "gen_ai.retrieval.documents": json.dumps([{"content": DOCS[0]}])})
    events = span(3, 1, "chat", {"gen_ai.operation.name": "chat"},
                  events={"gen_ai.user.message": {"content": QUESTION},
                          "gen_ai.choice": {"message": json.dumps({"role": "assistant", "content": ANSWER})}})
    record = mapped(span(1, None, "root", {}), retrieval, events)
    assert isinstance(record, RecordIn) and (record.user_input, record.response) == (QUESTION, ANSWER)
    flat = span(3, 1, "openai.chat", {"gen_ai.operation.name": "chat", "gen_ai.prompt.0.role": "user",
                                      "gen_ai.prompt.0.content": QUESTION, "gen_ai.completion.0.role": "assistant",
                                      "gen_ai.completion.0.content": ANSWER})
    record = mapped(span(1, None, "root", {}), retrieval, flat)
    assert isinstance(record, RecordIn) and (record.user_input, record.response) == (QUESTION, ANSWER)


@pytest.mark.parametrize("spans, reason", [
    ([span(1, None, "GET /health", {"http.method": "GET"})], "no_question"),
    ([span(1, None, "c", {"openinference.span.kind": "CHAIN", "input.value": QUESTION}),
      span(2, 1, "r", {"openinference.span.kind": "RETRIEVER", **documents(DOCS)})], "no_answer"),
    ([span(1, None, "c", {"openinference.span.kind": "CHAIN", "input.value": QUESTION, "output.value": ANSWER})],
     "no_contexts"),
    ([span(1, None, "c", {"openinference.span.kind": "CHAIN", "input.value": QUESTION, "output.value": ANSWER,
                          "metadata": json.dumps({"bad\ud800key": 1})}),
      span(2, 1, "r", {"openinference.span.kind": "RETRIEVER", **documents(DOCS)})], "invalid_record"),
])
def test_traces_that_cannot_be_mapped_say_why(spans, reason):
    result = mapped(*spans)
    assert isinstance(result, Unmapped) and result.reason == reason


# --- decoding ---------------------------------------------------------------------------------------------------

def otlp_json(message: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as exporters write it: protobuf's JSON mapping, but trace and span ids in hex."""
    document = json_format.MessageToDict(message)
    for resource in document["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for item in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in item:
                        item[key] = base64.b64decode(item[key]).hex()
    return json.dumps(document).encode()


def test_otlp_json_with_hex_ids_decodes_to_the_same_spans_as_protobuf():
    message = request(*langchain_trace())
    body = otlp_json(message)
    assert b'"traceId": "5b8efff798038103d269b633813fc60c"' in body
    decoded = otlp.decode(body, "application/json; charset=utf-8", None, max_bytes=10**6)
    assert decoded == message
    assert otlp.decode(gzip.compress(message.SerializeToString()), None, "gzip", max_bytes=10**6) == message


@pytest.mark.parametrize("body, content_type, encoding, status", [
    (b"\xff\xff\xff", "application/x-protobuf", None, 400),
    (b"{not json", "application/json", None, 400),
    (b'{"resourceSpans": 7}', "application/json", None, 400),
    (b"plain", "application/x-protobuf", "gzip", 400),
    (gzip.compress(b"\x00" * 5000), "application/x-protobuf", "gzip", 400),  # inflates past the limit
    (b"", "text/plain", None, 415),
    (b"", "application/x-protobuf", "br", 415),
])
def test_bad_payloads_are_refused(body, content_type, encoding, status):
    with pytest.raises(otlp.BadPayload) as refused:
        otlp.decode(body, content_type, encoding, max_bytes=1000)
    assert (415 if refused.value.unsupported else 400) == status


# --- the route --------------------------------------------------------------------------------------------------

class FakeAccept:
    """Stands in for ingest.accept, for tests of the route alone: keeps what it was handed, once `within` (the
    traces' claims) committed as accept's own transaction would."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, list[RecordIn]]] = []

    async def __call__(self, request, tenant, records, app=None, within=None) -> Accepted:
        if within is not None:
            await asyncio.to_thread(run_within, request.app.state.store.sync, within)
        self.calls.append((tenant, records))
        return Accepted(accepted=len(records), ids=[str(r.id) for r in records])

    @property
    def records(self) -> list[RecordIn]:
        return [r for _, records in self.calls for r in records]


def run_within(store: Store, within) -> None:
    with store.begin() as s:
        within(s)


@pytest.fixture
def accepted(monkeypatch) -> FakeAccept:
    fake = FakeAccept()
    monkeypatch.setattr(traces, "accept", fake)
    return fake


KEYS = {"team-a": "rk_team_a_key"}


@pytest.fixture
def api() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(api_keys=KEYS), judge=StubJudge())) as client:
        yield client


def test_the_route_answers_an_export_response_in_the_requests_encoding(api, accepted):
    unmappable = span(9, None, "GET /health", {}, trace=bytes(15) + b"\x09")
    body = request(*langchain_trace(), unmappable).SerializeToString()
    answer = api.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf",
                                                           "Authorization": "Bearer rk_team_a_key"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/x-protobuf"
    parsed = ExportTraceServiceResponse.FromString(answer.content)
    assert parsed.partial_success.rejected_spans == 1 and "no question" in parsed.partial_success.error_message
    assert [(tenant, [r.user_input for r in records]) for tenant, records in accepted.calls] == \
        [("team-a", [QUESTION])]
    metrics = api.get("/metrics").text
    assert 'ragmeter_otlp_spans_unmapped_total{reason="no_question"} 1.0' in metrics

    other = request(*langchain_trace(bytes(15) + b"\x03"))
    answer = api.post("/v1/traces", content=gzip.compress(otlp_json(other)),
                      headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                               "X-API-Key": "rk_team_a_key"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json() == {}  # everything mapped: no partial_success
    assert len(accepted.records) == 2


def test_the_route_needs_a_key_and_refuses_bad_bodies_with_400(api, accepted):
    body = request(*langchain_trace()).SerializeToString()
    assert api.post("/v1/traces", content=body, headers={"Content-Type": "application/x-protobuf"}).status_code == 401
    key = {"Authorization": "Bearer rk_team_a_key"}
    bad = api.post("/v1/traces", content=b"\xff\xff", headers={"Content-Type": "application/x-protobuf", **key})
    assert bad.status_code == 400 and "protobuf" in bad.json()["detail"]
    assert api.post("/v1/traces", content=b"x", headers={"Content-Type": "text/csv", **key}).status_code == 415
    nested = b'{"resourceSpans":' + b"[" * 5_000 + b"]" * 5_000 + b"}"
    deep = api.post("/v1/traces", content=nested, headers={"Content-Type": "application/json", **key})
    assert deep.status_code == 400 and "nested too deeply" in deep.json()["detail"]
    # Valid JSON within the parser's depth, but attribute values nested deeper than protobuf's parser goes.
    kvlist = '{"key": "a", "value": {"kvlistValue": {"values": [' * 200 + '{"key": "a"}' + "]}}}" * 200
    spans = '{"resourceSpans": [{"resource": {"attributes": [' + kvlist + ']}, "scopeSpans": []}]}'
    deep = api.post("/v1/traces", content=spans, headers={"Content-Type": "application/json", **key})
    assert deep.status_code == 400
    assert accepted.calls == []


# --- real spans from the OpenTelemetry SDK, into a running service ------------------------------------------------

def load_example():
    path = Path(__file__).resolve().parents[1] / "examples" / "otel_app" / "app.py"
    spec = importlib.util.spec_from_file_location("otel_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export_with_sdk(base: str, headers: dict[str, str], simple: bool, gzip_it: bool) -> str:
    """Runs the example app's traced request with the SDK's own OTLP/HTTP exporter; the trace id it made."""
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource as SdkResource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    exporter = OTLPSpanExporter(endpoint=f"{base}/v1/traces", headers=headers,
                                compression=Compression.Gzip if gzip_it else Compression.NoCompression)
    provider = TracerProvider(resource=SdkResource.create({"service.name": "tower-faq"}))
    # Simple: each span is its own request, children before their root; batch: the whole trace in one.
    provider.add_span_processor(SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    example = load_example()
    with tracer.start_as_current_span("POST /ask") as outer:
        example.answer(tracer, "When was the Eiffel Tower completed?")
        trace_id = format(outer.get_span_context().trace_id, "032x")
    assert provider.force_flush()
    provider.shutdown()
    return trace_id


@pytest.mark.parametrize("simple, gzip_it", [(True, False), (False, True)])
def test_spans_exported_by_the_sdk_arrive_as_a_record(accepted, simple, gzip_it):
    with serving(Settings(api_keys=KEYS)) as base:
        trace_id = export_with_sdk(base, {"authorization": "Bearer rk_team_a_key"}, simple, gzip_it)
    [(tenant, [record])] = accepted.calls
    assert tenant == "team-a" and record.trace_id == trace_id and record.app == "tower-faq"
    assert record.user_input == "When was the Eiffel Tower completed?"
    assert record.retrieved_contexts[0].startswith("The Eiffel Tower was completed in March 1889")
    assert record.response == record.retrieved_contexts[0]
    assert record.metadata["prompt_version"] == "v2" and record.metadata["model"] == "canned-1"


def test_the_example_app_exports_with_the_standard_environment_variables(accepted, monkeypatch, capsys):
    with serving(Settings(api_keys=KEYS)) as base:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer%20rk_team_a_key")
        monkeypatch.setenv("OTEL_SERVICE_NAME", "tower-faq")
        load_example().main(["Who built the Eiffel Tower?"])
    assert [(r.app, r.user_input) for r in accepted.records] == [("tower-faq", "Who built the Eiffel Tower?")]
    assert "Gustave Eiffel" in accepted.records[0].response


def test_a_trace_exported_by_the_sdk_is_stored_as_a_record(job_store):
    from sqlalchemy import select

    from ragmeter.service.server.traffic.tables import Record

    with serving(Settings(api_keys=KEYS)) as base:
        trace_id = export_with_sdk(base, {"authorization": "Bearer rk_team_a_key"}, simple=True, gzip_it=False)
    store = Store(job_store)
    try:
        deadline = time.monotonic() + 10
        row = None
        while row is None and time.monotonic() < deadline:
            with store.session() as s:
                row = s.scalar(select(Record).where(Record.trace_id == trace_id))
        assert row is not None, "no record stored for the exported trace"
        assert (row.tenant, row.app) == ("team-a", "tower-faq")
        assert row.sample["user_input"] == "When was the Eiffel Tower completed?"
        assert row.sample["retrieved_contexts"][0].startswith("The Eiffel Tower was completed in March 1889")
        assert row.sample["response"] == row.sample["retrieved_contexts"][0]
    finally:
        store.close()


def test_the_example_apps_answers_are_scored_and_the_invented_one_is_listed_among_the_failures(monkeypatch, capsys):
    """docs/otlp.md's walkthrough: the example app's questions, exported with the standard variables to a service with
    the embedded judge, are scored; the answer with details from "memory" fails the gate with those claims marked."""
    from ragmeter.metrics.judges.embedded.judge import EmbeddedJudge

    example = load_example()
    with serving(Settings(), judge=EmbeddedJudge()) as base, httpx.Client(base_url=base) as client:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "tower-faq")
        example.main(example.QUESTIONS)
        deadline = time.monotonic() + 30
        while len(client.get("/v1/records", params={"app": "tower-faq", "status": "scored"}).json()["records"]) < 3:
            assert time.monotonic() < deadline, "the example's records were not scored"
            time.sleep(0.05)
        series = client.get("/v1/monitor/series", params={"app": "tower-faq", "metric": "gate_pass_rate"}).json()
        failures = client.get("/v1/monitor/failures", params={"app": "tower-faq"}).json()["failures"]
        # A trace id seen in the app's own tracing finds its record.
        for record in client.get("/v1/records", params={"app": "tower-faq"}).json()["records"]:
            found = client.get("/v1/records", params={"app": "tower-faq", "id": record["trace_id"]}).json()
            assert [r["id"] for r in found["records"]] == [record["id"]]
        assert client.get("/v1/records", params={"app": "other", "id": record["trace_id"]}).json()["records"] == []
    [pass_rate] = series["series"]
    assert sum(b["count"] for b in pass_rate["buckets"]) == 3
    [failure] = failures
    assert failure["question"] == "How tall is the Eiffel Tower?"
    unsupported = [c["claim"] for c in failure["claims"] if c["verdict"] == "unsupported"]
    assert unsupported == ["It is painted gold every seven years.", "Its lifts were made by Otis."]


def test_a_span_whose_parent_is_in_another_process_roots_the_trace_here(job_store):
    """A distributed trace: the caller's root span is exported elsewhere; ours says its parent is remote."""
    root, *children = langchain_trace()
    root.parent_span_id = (77).to_bytes(8, "big")
    root.flags = 0x100 | 0x200  # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK | SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
    assembler = TraceAssembler(CollectorRegistry(), staging_s=60, staging_spans=100)
    assembler.open(Store(job_store))
    done = assembler.collect("t", otlp.spans_of(request(*children, root)))
    assert [r.user_input for r in done.records] == [QUESTION]
    root.flags = 0x100  # the parent is local but has not arrived: wait for it
    assert assembler.collect("t", otlp.spans_of(request(*langchain_trace(bytes(16))[1:], root))).records == []


@pytest.mark.parametrize("attrs", [
    {"input.value": 7, "output.value": ["a", 1]},
    {"input.value": "[1, {\"kwargs\": 3}, [\"x\"]]", "output.value": "{\"generations\": [[{\"text\": 5}]]}"},
    {"llm.input_messages.0.message.content": ["x"], "llm.output_messages.x.message.role": "assistant",
     "metadata": "[1, 2]", "gen_ai.input.messages": "{}", "gen_ai.output.messages": "[1, \"a\"]"},
    {"gen_ai.retrieval.documents": "{\"content\": 1}", "retrieval.documents.0.document.content": 3},
])
def test_odd_attribute_types_are_unmapped_not_errors(attrs):
    for kind in ("CHAIN", "LLM", "RETRIEVER"):
        result = mapped(span(1, None, "x", {"openinference.span.kind": kind, "gen_ai.operation.name": "chat", **attrs}))
        assert isinstance(result, Unmapped)
