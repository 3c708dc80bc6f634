"""One trace's spans -> one production record (question, contexts, answer, metadata), or why not.

A pure function of the spans, so it is tested from hand-built traces. It reads two conventions:
- OpenInference (Arize Phoenix and its instrumentors): `openinference.span.kind`, `input.value` /
  `output.value`, `retrieval.documents.{i}.document.content`, `llm.input_messages` / `llm.output_messages`;
- the OpenTelemetry GenAI conventions: `gen_ai.operation.name`, `gen_ai.input.messages` /
  `gen_ai.output.messages`, `gen_ai.retrieval.documents`, and the older `gen_ai.prompt` / `gen_ai.completion`
  attributes and events, including OpenLLMetry's flattened `gen_ai.prompt.{i}.content`.
docs/otlp.md lists what comes from where.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Any

from pydantic import ValidationError

from ragmeter.service.server.traffic.ingest import RecordIn
from ragmeter.service.server.traffic.otlp import SpanView
from ragmeter.service.server.traffic.tables import DEFAULT_APP

KIND = "openinference.span.kind"
OPERATION = "gen_ai.operation.name"
# The JSON keys an app's chain input / output most often carries its question / answer under, in that order.
QUESTION_KEYS = ("question", "query", "query_str", "input", "user_input", "q", "prompt", "message", "text")
ANSWER_KEYS = ("answer", "output", "result", "response", "output_text", "text", "content")
NOT_TOP_KINDS = ("RETRIEVER", "RERANKER", "EMBEDDING", "TOOL")
NOT_TOP_OPERATIONS = ("retrieval", "embeddings", "execute_tool")
USER_ROLES = ("user", "human")
ANSWER_ROLES = ("assistant", "ai", "model")
# Unmapped reasons: machine-readable, used as the Prometheus label and in partial_success's message.
NO_QUESTION, NO_ANSWER, NO_CONTEXTS, INVALID = "no_question", "no_answer", "no_contexts", "invalid_record"
REASONS = {
    NO_QUESTION: "no question (no input.value on the top chain/LLM span, no retriever query, no user message)",
    NO_ANSWER: "no answer (no output.value, assistant message or gen_ai completion)",
    NO_CONTEXTS: "no contexts (no RETRIEVER span with documents, no gen_ai retrieval documents)",
    INVALID: "the record built from it is invalid",
}


@dataclass
class Unmapped:
    reason: str
    detail: str = ""


def map_trace(spans: list[SpanView]) -> RecordIn | Unmapped:
    """The record of one whole trace: the top AI span's input and output, every retrieval's documents in order."""
    ordered = sorted(spans, key=lambda s: (s.start_ns, s.end_ns))
    ai = [s for s in ordered if KIND in s.attrs or OPERATION in s.attrs]
    depth = _depths(ordered)
    # The outermost chain, agent or LLM span holds the user's question and the answer they got.
    steps = [s for s in ai if _kind(s) not in NOT_TOP_KINDS and _operation(s) not in NOT_TOP_OPERATIONS]
    top = min(steps, key=lambda s: depth[s.span_id]) if steps else None
    llms = [s for s in ai if _is_llm(s)]
    retrievers = [s for s in ai if _is_retriever(s)]

    # An LLM's prompt often has the documents stuffed in: the retriever's query is the cleaner question then.
    question = (_input_text(top) if top is not None and not _is_llm(top) else None) \
        or _first(_query(s) for s in retrievers) or _first(_input_text(s) for s in llms)
    answer = (_output_text(top) if top is not None else None) \
        or _first(_last_answer_message(s) for s in reversed(sorted(llms, key=lambda s: s.end_ns)))
    contexts = _contexts(ordered)
    if not question:
        return Unmapped(NO_QUESTION)
    if not answer:
        return Unmapped(NO_ANSWER)
    if not contexts:
        return Unmapped(NO_CONTEXTS)
    root = min(ordered, key=lambda s: depth[s.span_id])
    try:
        return RecordIn(id=root.trace_id, trace_id=root.trace_id, user_input=question, response=answer,
                        retrieved_contexts=contexts, metadata=_metadata(ordered, llms),
                        timestamp=datetime.fromtimestamp(root.end_ns / 1e9, UTC) if root.end_ns else None,
                        app=_app(root))
    except ValidationError as exc:
        first = exc.errors()[0]
        return Unmapped(INVALID, f"{'.'.join(map(str, first['loc']))}: {first['msg']}")


def _app(span: SpanView) -> str:
    """The resource's service.name; the default app when the SDK had none (it then says unknown_service)."""
    name = _text(span.resource.get("service.name"))[:128]
    return DEFAULT_APP if not name or name.startswith("unknown_service") else name


def _depths(spans: list[SpanView]) -> dict[str, int]:
    """Each span's distance from the top of what arrived (a span whose parent is missing counts as a top)."""
    parent = {s.span_id: s.parent_id for s in spans}
    depths: dict[str, int] = {}
    for span in spans:
        chain, node = [], span.span_id
        while node in parent and node not in depths and node not in chain:
            chain.append(node)
            node = parent[node]
        base = depths.get(node, -1)
        for i, item in enumerate(reversed(chain)):
            depths[item] = base + 1 + i
    return depths


def _kind(span: SpanView) -> str:
    return _text(span.attrs.get(KIND)).upper()


def _operation(span: SpanView) -> str:
    return _text(span.attrs.get(OPERATION)).lower()


def _is_llm(span: SpanView) -> bool:
    return _kind(span) == "LLM" or _operation(span) in ("chat", "text_completion", "generate_content")


def _is_retriever(span: SpanView) -> bool:
    return _kind(span) in ("RETRIEVER", "RERANKER") or _operation(span) == "retrieval"


def _first(values: Iterable[str | None]) -> str | None:
    return next((v for v in values if v), None)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def _json(value: Any) -> Any:
    """A JSON attribute's value parsed; the value itself when it is not a JSON string."""
    if isinstance(value, str) and value.strip()[:1] in ("{", "[", '"'):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


# --- question and answer ------------------------------------------------------------------------------------

def _input_text(span: SpanView) -> str | None:
    if (found := _pick(_json(span.attrs.get("input.value")), QUESTION_KEYS, USER_ROLES)):
        return found
    if (found := _last_user_message(span)) and _is_llm(span):
        return found
    return None


def _output_text(span: SpanView) -> str | None:
    if (found := _pick(_json(span.attrs.get("output.value")), ANSWER_KEYS, ANSWER_ROLES)):
        return found
    return _last_answer_message(span)


def _pick(value: Any, keys: tuple[str, ...], roles: tuple[str, ...]) -> str | None:
    """The person's text in an input or output value: the text itself, a known key's, or the last message's."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list):
        return _last_message(value, roles)
    if isinstance(value, dict):
        for key in keys:
            if key in value and (found := _pick(value[key], keys, roles)):
                return found
        for key in ("messages", "chat_history"):
            if isinstance(value.get(key), list) and (found := _last_message(value[key], roles)):
                return found
        if "generations" in value:  # a LangChain LLMResult
            return _pick(value["generations"], ("text",), roles)
        strings = [v for v in value.values() if isinstance(v, str) and v.strip()]
        if len(strings) == 1:  # {"whatever_the_app_named_it": "the text"}
            return strings[0].strip()
        if len(value) == 1:  # {"whatever": {"question": ...}}: one wrapper around the real input
            return _pick(next(iter(value.values())), keys, roles)
    return None


def _last_message(messages: list, roles: tuple[str, ...]) -> str | None:
    """The last message of one of `roles` in a list of messages, whatever their shape."""
    for message in reversed(messages):
        while isinstance(message, list) and message:  # LangChain's [[...]] generations, ("human", "text") pairs
            if len(message) == 2 and all(isinstance(m, str) for m in message):
                role, text = message
                message = {"role": role, "content": text}
                break
            message = message[-1]
        if isinstance(message, dict):
            body = message.get("kwargs", message)  # LangChain's serialised messages
            if not isinstance(body, dict):
                continue
            role = _text(body.get("role") or body.get("type") or _class_name(message)).lower()
            wanted = role.removesuffix("message") in roles or (not role and "text" in body)
            if wanted and (text := message_text(body)):
                return text
    return None


def _class_name(message: dict) -> str:
    """The class of a LangChain-serialised message ({"id": ["langchain", ..., "HumanMessage"]}), else ""."""
    path = message.get("id")
    return path[-1] if isinstance(path, list) and path and isinstance(path[-1], str) else ""


def message_text(message: dict) -> str | None:
    """A message's text: `content` as a string, or its text parts (GenAI `parts`, OpenAI content lists)."""
    content = message.get("content", message.get("text"))
    if isinstance(content, str):
        return content.strip() or None
    parts = message.get("parts") if isinstance(message.get("parts"), list) else content
    if isinstance(parts, list):
        texts = [_text(p.get("content", p.get("text"))) for p in parts
                 if isinstance(p, dict) and p.get("type", "text") == "text"]
        return "\n".join(t for t in texts if t).strip() or None
    return None


def _indexed(attrs: dict[str, Any], prefix: str, suffix: str) -> list[Any]:
    """OpenInference's flattened lists: the values of `prefix.{i}.suffix`, in i order."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\." + re.escape(suffix) + "$")
    found = sorted((int(m.group(1)), value) for key, value in attrs.items() if (m := pattern.match(key)))
    return [value for _, value in found]


def _items(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenInference's and OpenLLMetry's flattened objects: `prefix.{i}.field` -> one dict per i, in i order."""
    pattern = re.compile(re.escape(prefix) + r"\.(\d+)\.(.+)$")
    found: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if (m := pattern.match(key)):
            found.setdefault(int(m.group(1)), {})[m.group(2)] = value
    return [found[i] for i in sorted(found)]


def _messages(span: SpanView, side: str) -> list[dict]:
    """A span's messages on one side (input / output) from whichever convention it uses."""
    attrs = span.attrs
    default_role = "user" if side == "input" else "assistant"
    if (items := _items(attrs, f"llm.{side}_messages")):
        return [{"role": m.get("message.role", default_role),  # multimodal messages: their first text part
                 "content": m.get("message.content", m.get("message.contents.0.message_content.text"))}
                for m in items]
    legacy = "gen_ai.prompt" if side == "input" else "gen_ai.completion"
    for key in (f"gen_ai.{side}.messages", legacy):
        if isinstance(value := _json(attrs.get(key)), list):
            return [m for m in value if isinstance(m, dict)]
    if (items := _items(attrs, legacy)):  # OpenLLMetry: gen_ai.prompt.{i}.role / .content
        return [{"role": m.get("role", default_role), "content": m.get("content")} for m in items]
    return _event_messages(span, side)


def _event_messages(span: SpanView, side: str) -> list[dict]:
    """Messages recorded as span events: gen_ai.user.message / gen_ai.choice, gen_ai.content.prompt / completion."""
    messages: list[dict] = []
    for name, attrs in span.events:
        if side == "input" and name == "gen_ai.user.message":
            messages.append({"role": "user", "content": _text(attrs.get("content"))})
        elif side == "output" and name == "gen_ai.choice":
            message = _json(attrs.get("message"))
            messages.append(message if isinstance(message, dict) else {"content": _text(attrs.get("content"))})
            messages[-1].setdefault("role", "assistant")
        elif (side, name) in (("input", "gen_ai.content.prompt"), ("output", "gen_ai.content.completion")):
            value = _json(attrs.get("gen_ai.prompt" if side == "input" else "gen_ai.completion"))
            messages.extend(m for m in (value if isinstance(value, list) else
                                        [{"role": "user" if side == "input" else "assistant", "content": value}])
                            if isinstance(m, dict))
    return messages


def _last_user_message(span: SpanView) -> str | None:
    return _last_message(_messages(span, "input"), USER_ROLES)


def _last_answer_message(span: SpanView) -> str | None:
    return _last_message(_messages(span, "output"), ANSWER_ROLES) \
        or (_pick(_json(span.attrs.get("output.value")), ANSWER_KEYS, ANSWER_ROLES) if _is_llm(span) else None)


def _query(span: SpanView) -> str | None:
    return _text(span.attrs.get("gen_ai.retrieval.query.text")).strip() or \
        _pick(_json(span.attrs.get("input.value")), QUESTION_KEYS, USER_ROLES)


# --- contexts and metadata ------------------------------------------------------------------------------------

def _contexts(spans: list[SpanView]) -> list[str]:
    """Retrieved documents in retrieval order; a reranker's output replaces the documents it reranked."""
    retrieved: list[str] = []
    reranked: list[str] = []
    for span in spans:
        if _kind(span) == "RERANKER":
            reranked += _indexed(span.attrs, "reranker.output_documents", "document.content")
        elif _is_retriever(span):
            retrieved += _indexed(span.attrs, "retrieval.documents", "document.content")
            documents = _json(span.attrs.get("gen_ai.retrieval.documents"))
            for document in documents if isinstance(documents, list) else []:
                text = document.get("content", document.get("text")) if isinstance(document, dict) else document
                if isinstance(text, str):
                    retrieved.append(text)
    texts = [t.strip() for t in (reranked or retrieved) if isinstance(t, str) and t.strip()]
    return list(dict.fromkeys(texts))  # one passage retrieved twice is one context


def _metadata(spans: list[SpanView], llms: list[SpanView]) -> dict[str, Any]:
    """The app's own `metadata` JSON (any span, the top one last so it wins), the session, user, model, version."""
    meta: dict[str, Any] = {}
    for span in reversed(spans):
        value = _json(span.attrs.get("metadata"))
        if isinstance(value, dict):
            meta.update(value)
    named = {"session_id": ("session.id", "gen_ai.conversation.id"), "user_id": ("user.id",),
             "prompt_version": ("llm.prompt_template.version",),
             "model": ("llm.model_name", "gen_ai.response.model", "gen_ai.request.model")}
    for field_name, keys in named.items():
        for span in (llms if field_name == "model" else []) + spans:
            if (value := _first(_text(span.attrs.get(k)) for k in keys)):
                meta.setdefault(field_name, value)
                break
    if spans and (version := _text(spans[0].resource.get("service.version"))):
        meta.setdefault("app_version", version)
    # Slices are on scalars: a nested value is kept as its JSON text.
    return {k: v if v is None or isinstance(v, (str, bool, int, float)) else json.dumps(v, default=str)
            for k, v in meta.items() if not (isinstance(v, float) and v != v)}
