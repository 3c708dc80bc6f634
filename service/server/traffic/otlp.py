"""OTLP/HTTP trace payloads: decode a request (protobuf or OTLP/JSON, gzip or not), encode the response.

Decoding is the OpenTelemetry project's own generated classes and protobuf's parsers; nothing here reads
the wire format by hand. What comes out is a flat `SpanView` per span, the only shape `spans.py` maps.
"""
from __future__ import annotations

import base64
import contextlib
import zlib
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import SpanFlags

from ragmeter.service import json_text

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# The flags bits newer SDKs set on a span whose parent is in another process (a distributed trace).
_REMOTE_KNOWN = SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_REMOTE = SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
# The id fields OTLP/JSON writes as hex, with their length in bytes (protobuf's own JSON mapping wants base64).
_ID_BYTES = {"traceId": 16, "trace_id": 16, "spanId": 8, "span_id": 8, "parentSpanId": 8, "parent_span_id": 8}


class BadPayload(ValueError):
    """The body is not an ExportTraceServiceRequest in the declared encoding: 400 (415 when `unsupported`)."""

    def __init__(self, message: str, unsupported: bool = False):
        super().__init__(message)
        self.unsupported = unsupported


@dataclass
class SpanView:
    """One span with what mapping reads: ids in hex, attributes and events' attributes as plain Python values."""

    trace_id: str
    span_id: str
    parent_id: str = ""  # "" for a root span
    name: str = ""
    start_ns: int = 0
    end_ns: int = 0
    attrs: dict[str, Any] = field(default_factory=dict)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    remote_parent: bool = False

    @property
    def is_root(self) -> bool:
        """The trace's root in this app: no parent, or a parent in another process (which exports elsewhere)."""
        return not self.parent_id or self.remote_parent


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower-cased, without parameters; protobuf when absent."""
    return (content_type or PROTOBUF).split(";", 1)[0].strip().lower()


def decode(body: bytes, content_type: str | None, content_encoding: str | None,
           max_bytes: int) -> ExportTraceServiceRequest:
    """The request in `body`; BadPayload when it cannot be decoded, is too large inflated, or its type is unknown."""
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, max_bytes)
    elif encoding not in ("identity", ""):
        raise BadPayload(f"Content-Encoding {encoding!r} is not supported: send gzip or none", unsupported=True)
    kind = media_type(content_type)
    message = ExportTraceServiceRequest()
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise BadPayload(f"the body is not a protobuf ExportTraceServiceRequest: {exc}") from exc
        return message
    if kind == JSON:
        try:
            document = json_text.loads(body.decode())
            json_format.ParseDict(_ids_to_base64(document), message, ignore_unknown_fields=True)
        except (ValueError, json_format.ParseError) as exc:  # BadJSON and UnicodeDecodeError are ValueErrors
            raise BadPayload(f"the body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from exc
        except RecursionError as exc:  # attribute values (kvlistValue, arrayValue) nested deeper than parsing goes
            raise BadPayload("the body is not an OTLP/JSON ExportTraceServiceRequest: nested too deeply") from exc
        return message
    raise BadPayload(f"Content-Type {kind!r} is not supported: send {PROTOBUF} or {JSON}", unsupported=True)


def _gunzip(body: bytes, max_bytes: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, max_bytes + 1)
    except zlib.error as exc:
        raise BadPayload(f"Content-Encoding is gzip but the body is not gzip data: {exc}") from exc
    if len(out) > max_bytes:
        raise BadPayload(f"the body inflates to more than {max_bytes} bytes (RAGMETER_MAX_UPLOAD_MB)")
    return out


def _ids_to_base64(node: Any) -> Any:
    """OTLP/JSON's hex trace and span ids turned into the base64 protobuf's JSON parser reads, in place.

    An id already in base64 (some exporters use protobuf's plain JSON mapping) has a different length and is kept.
    """
    if isinstance(node, dict):
        for key, value in node.items():
            size = _ID_BYTES.get(key)
            if size and isinstance(value, str) and len(value) == 2 * size:
                with contextlib.suppress(ValueError):  # not hex: left for the parser to judge
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
            else:
                _ids_to_base64(value)
    elif isinstance(node, list):
        for item in node:
            _ids_to_base64(item)
    return node


def value_of(value: AnyValue) -> Any:
    """An attribute's AnyValue as a Python value: str, bool, int, float, list, dict, bytes or None."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [value_of(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def spans_of(message: ExportTraceServiceRequest) -> list[SpanView]:
    """Every span of the request, flattened, with its resource's attributes."""
    views = []
    for resource_spans in message.resource_spans:
        resource = {kv.key: value_of(kv.value) for kv in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                views.append(SpanView(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(), parent_id=span.parent_span_id.hex(),
                    name=span.name, start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                    attrs={kv.key: value_of(kv.value) for kv in span.attributes},
                    events=[(e.name, {kv.key: value_of(kv.value) for kv in e.attributes}) for e in span.events],
                    resource=resource,
                    remote_parent=bool(span.flags & _REMOTE_KNOWN and span.flags & _REMOTE)))
    return views


def response(rejected: int, message: str, as_json: bool) -> bytes:
    """An ExportTraceServiceResponse in the request's encoding; partial_success set only when spans were rejected."""
    answer = ExportTraceServiceResponse()
    if rejected:
        answer.partial_success.CopyFrom(ExportTracePartialSuccess(rejected_spans=rejected, error_message=message))
    if as_json:
        return json_format.MessageToJson(answer, indent=None).encode()
    return answer.SerializeToString()
