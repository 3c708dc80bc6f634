"""What several test files share: a sample, a stub judge, upload helpers, a client on the scripted judge."""
from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from fastapi.testclient import TestClient

from ragmeter.metrics.judgements import (ClaimVerdict, Comparison, ContextVerdict, Decomposition, EntailmentVerdict,
                                         JudgeInfo, Relevance, Verification)
from ragmeter.metrics.judges.llm import LLMJudge
from ragmeter.service.server.app import create_app
from ragmeter.service.settings import Settings

from .scripted_judge import ScriptedJudge

CONTEXTS = [
    "The Eiffel Tower is in Paris. It was completed in 1889 for the World's Fair.",
    "Berlin is the capital of Germany.",
]
SAMPLE: dict[str, Any] = {
    "user_input": "When was the Eiffel Tower completed?",
    "retrieved_contexts": CONTEXTS,
    "response": "The Eiffel Tower is in Paris. It was completed in 1889 for the World's Fair. "
                "It is 500 metres tall.",
    "reference": "It was completed in 1889 for the World's Fair.",
}



def make_client(fake: ScriptedJudge, **options) -> TestClient:
    settings = Settings(**options.pop("settings", {}))
    judge = LLMJudge.create(model="scripted", embedding_model=options.pop("embedding_model", "scripted-embed"),
                            base_url=fake.url,
                            api_key="test", timeout=options.pop("timeout", 10.0),
                            max_retries=options.pop("max_retries", 2), **options)
    return TestClient(create_app(settings, judge=judge))


class StubJudge:
    """Supports a claim when a context holds it; can hang after N samples to simulate a crash."""

    info = JudgeInfo(name="stub")
    default_threshold = 0.2

    def __init__(self, hang_after: int | None = None):
        self.calls: Counter[str] = Counter()
        self.hang_after = hang_after
        self.hanging = threading.Event()

    async def decompose(self, sample, need, usage):
        self.calls[str(sample.id)] += 1
        if self.hang_after is not None and sum(self.calls.values()) > self.hang_after:
            self.hanging.set()
            await asyncio.Event().wait()
        return Decomposition(claims=[sample.response] if need.claims else [])

    async def verify(self, sample, parts, need, usage):
        text = " ".join(sample.retrieved_contexts)
        return Verification(
            claims=[ClaimVerdict(claim=c, verdict="supported" if c in text else "unsupported",
                                 evidence=c if c in text else "") for c in parts.claims],
            contexts=[ContextVerdict(index=i, useful=True) for i in range(len(sample.retrieved_contexts))]
            if need.context_verdicts else [])

    async def relevance(self, sample, parts, usage):
        return Relevance(estimate=1.0)

    async def embed(self, texts, usage):
        return [[1.0, 0.0] for _ in texts]

    async def compare(self, sample, parts, usage):
        return Comparison(
            claims=[EntailmentVerdict(text=c, entailed=c in (sample.reference or "")) for c in parts.claims],
            statements=[EntailmentVerdict(text=s, entailed=s in sample.response) for s in parts.statements])

    def unavailable_for(self):
        return 0.0

    async def ready(self):
        return True, "stub"

    async def aclose(self):
        return None


class ContradictingJudge(StubJudge):
    """The stub judge, except that a claim whose "false" a context states as "true" is contradicted, quoting it."""

    async def verify(self, sample, parts, need, usage):
        verification = await super().verify(sample, parts, need, usage)
        text = " ".join(sample.retrieved_contexts)
        for verdict in verification.claims:
            opposite = verdict.claim.replace(" false", " true")
            if verdict.verdict == "unsupported" and opposite != verdict.claim and opposite in text:
                verdict.verdict, verdict.evidence, verdict.reason = "contradicted", opposite, "the context says true"
                verdict.context_index = next(i for i, c in enumerate(sample.retrieved_contexts) if opposite in c)
        return verification


class Watched(StubJudge):
    """The stub judge, noting in `overlaps` each sample that two scorers (runners sharing the dicts) held at once."""

    def __init__(self, in_flight: dict, overlaps: list, hang_after: int | None = None):
        super().__init__(hang_after)
        self.in_flight, self.overlaps = in_flight, overlaps

    async def decompose(self, sample, need, usage):
        key = str(sample.id)
        if self.in_flight.get(key):
            self.overlaps.append(key)
        self.in_flight[key] = self.in_flight.get(key, 0) + 1
        try:
            await asyncio.sleep(0)  # let the other runner in while this sample is being scored
            return await super().decompose(sample, need, usage)
        finally:
            self.in_flight[key] -= 1


class Clock:
    """A clock the test moves by hand, so that a lease lapses without waiting for it."""

    def __init__(self):
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, seconds: float) -> None:
        self.moment += timedelta(seconds=seconds)


def rows(n: int) -> list[dict]:
    return [{"id": f"r{i}", "question": f"Question {i}?", "contexts": [f"Fact {i} is true."],
             "answer": f"Fact {i} is true." if i % 3 else f"Fact {i} is false."} for i in range(n)]


def as_file(records: list[dict], fmt: str) -> bytes:
    if fmt == "jsonl":
        return "".join(json.dumps(r) + "\n" for r in records).encode()
    if fmt == "json":
        return json.dumps(records).encode()
    frame = pd.DataFrame.from_records(records)
    if fmt == "csv":
        frame["contexts"] = frame["contexts"].map(json.dumps)
        return frame.to_csv(index=False).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def upload(client, content: bytes, name: str, **form):
    return client.post("/v1/batches", files={"file": (name, content)}, data=form)


def wait_done(client, batch_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/v1/batches/{batch_id}").json()
        if status["status"] not in ("queued", "running"):
            return status
        time.sleep(0.02)
    raise AssertionError(f"batch {batch_id} still {status['status']} after {timeout}s")


def finished_batch(base: str, records: list[dict] | None = None, name: str = "set.jsonl", **form) -> str:
    """Upload records (nine of `rows` by default, with any form fields) to a served app and wait until it is done."""
    import httpx

    batch = httpx.post(f"{base}/v1/batches", files={"file": (name, as_file(records or rows(9), "jsonl"))},
                       data=form).json()
    for _ in range(500):
        if httpx.get(f"{base}/v1/batches/{batch['id']}").json()["status"] == "done":
            return batch["id"]
        time.sleep(0.02)
    raise AssertionError("batch did not finish")
