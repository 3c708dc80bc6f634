"""A small RAG app instrumented with OpenTelemetry, sending its traces to ragmeter (docs/otlp.md).

No LLM and no vector database: a keyword retriever over four passages and an answer made of the best one (asked
the tower's height, the canned "LLM" adds two details from "memory" that no passage holds, so that one answer
fails the hallucination gate and shows among the failing answers of the monitoring page).
Its spans follow OpenInference's conventions, as Phoenix's instrumentors write them: a CHAIN span for the
whole request (the question in, the answer out), a RETRIEVER span with the documents, an LLM span with the
prompt and the completion. Where the traces go comes from the standard environment variables only:

    pip install opentelemetry-sdk opentelemetry-exporter-otlp-proto-http
    export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8000
    export OTEL_EXPORTER_OTLP_HEADERS="authorization=Bearer%20rk_..."   # when ragmeter has API keys
    export OTEL_SERVICE_NAME=tower-faq                                  # the app its records are filed under
    python examples/otel_app/app.py "When was the Eiffel Tower completed?" "How tall is the Eiffel Tower?"
"""
from __future__ import annotations

import json
import re
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

PASSAGES = [
    "The Eiffel Tower was completed in March 1889 as the entrance arch of the World's Fair.",
    "The tower is 330 metres tall and was the tallest man-made structure until 1930.",
    "Gustave Eiffel's company designed and built the tower.",
    "Berlin is the capital of Germany.",
]
# What the canned "LLM" adds to its answer when the question has the word: a model answering partly from memory.
FROM_MEMORY = {"tall": "It is painted gold every seven years. Its lifts were made by Otis."}
# Asked when no question is given; the last one's answer fails the gate.
QUESTIONS = ["When was the Eiffel Tower completed?", "Who built the Eiffel Tower?", "How tall is the Eiffel Tower?"]
PROMPT = "Answer from the context only.\n\nContext:\n{context}\n\nQuestion: {question}"


def retrieve(question: str, k: int = 2) -> list[str]:
    """The k passages sharing the most words with the question."""
    words = set(re.findall(r"\w+", question.lower()))
    return sorted(PASSAGES, key=lambda p: -len(words & set(re.findall(r"\w+", p.lower()))))[:k]


def generate(question: str, passages: list[str]) -> str:
    """A canned "LLM": the best passage, as the answer, and whatever it "remembers" about the question."""
    remembered = [text for word, text in FROM_MEMORY.items() if word in re.findall(r"\w+", question.lower())]
    return " ".join([passages[0], *remembered])


def answer(tracer: trace.Tracer, question: str, session: str = "demo") -> str:
    """One request of the app, traced: the spans an OpenInference-instrumented chain would make."""
    with tracer.start_as_current_span("rag", attributes={
            "openinference.span.kind": "CHAIN", "input.value": json.dumps({"question": question}),
            "input.mime_type": "application/json", "session.id": session,
            "metadata": json.dumps({"prompt_version": "v2", "retriever": "keywords"})}) as chain:
        with tracer.start_as_current_span("retrieve", attributes={
                "openinference.span.kind": "RETRIEVER", "input.value": question}) as retriever:
            passages = retrieve(question)
            for i, passage in enumerate(passages):
                retriever.set_attribute(f"retrieval.documents.{i}.document.content", passage)
        prompt = PROMPT.format(context="\n".join(passages), question=question)
        with tracer.start_as_current_span("llm", attributes={
                "openinference.span.kind": "LLM", "llm.model_name": "canned-1",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": prompt}) as llm:
            text = generate(question, passages)
            llm.set_attribute("llm.output_messages.0.message.role", "assistant")
            llm.set_attribute("llm.output_messages.0.message.content", text)
        chain.set_attribute("output.value", text)
    return text


def tracer_provider() -> TracerProvider:
    """A provider exporting to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces with OTEL_EXPORTER_OTLP_HEADERS."""
    provider = TracerProvider(resource=Resource.create())  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def main(questions: list[str]) -> None:
    provider = tracer_provider()
    tracer = provider.get_tracer("otel_app")
    for question in questions:
        print(f"{question}\n  -> {answer(tracer, question)}")
    provider.shutdown()  # flushes the spans still waiting in the batch processor


if __name__ == "__main__":
    main(sys.argv[1:] or QUESTIONS)
