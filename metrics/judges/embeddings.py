"""Embedding providers, chosen by name: the embedded MiniLM in this process, or a model on an OpenAI-compatible
server."""
from __future__ import annotations

import asyncio
import json
from typing import Protocol

import openai

from ..judgements import JudgeError, Usage
from .cache import ReplyCache, request_key
from .embedded.encoder import LABEL as MINILM_LABEL
from .errors import judge_error

# RAGMETER_EMBEDDING_MODEL values served by the embedded MiniLM, for servers with chat models only.
EMBEDDED_MODELS = ("local", "all-MiniLM-L6-v2")


class EmbeddingProvider(Protocol):
    name: str

    async def embed(self, texts: list[str], usage: Usage) -> list[list[float]]: ...


class MiniLMEmbeddings:
    """The embedded all-MiniLM-L6-v2, loaded on first use, run off the event loop."""

    name = MINILM_LABEL

    def __init__(self, encoder=None):
        self._encoder = encoder

    async def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        if self._encoder is None:
            from .embedded.encoder import Encoder

            self._encoder = await asyncio.to_thread(Encoder.load)
        return (await asyncio.to_thread(self._encoder.encode, texts)).tolist()


class OpenAIEmbeddings:
    """One embeddings call per request for the texts not cached, under the judge's cap on calls in flight."""

    def __init__(self, client: openai.AsyncOpenAI, model: str, cache: ReplyCache, slots: asyncio.Semaphore):
        self.client, self.name, self.cache, self.slots = client, model, cache, slots

    async def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        keys = [request_key({"model": self.name, "input": t}) for t in texts]
        vectors: dict[str, list[float]] = {}
        for key in keys:
            if (hit := self.cache.get(key)) is not None:
                vectors[key] = json.loads(hit)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in vectors))
        if not missing:
            usage.cached_calls += 1
            return [vectors[k] for k in keys]
        async with self.slots:
            try:
                reply = await self.client.embeddings.create(model=self.name, input=missing)
            except openai.OpenAIError as exc:
                raise judge_error("embed", exc) from exc
        usage.embedding_calls += 1
        usage.embedding_tokens += reply.usage.prompt_tokens if reply.usage else 0
        if len(reply.data) != len(missing):
            raise JudgeError("embed", "invalid_output", f"{len(reply.data)} embeddings for {len(missing)} texts")
        for item in sorted(reply.data, key=lambda d: d.index):
            key = request_key({"model": self.name, "input": missing[item.index]})
            vectors[key] = list(item.embedding)
            self.cache.put(key, json.dumps(vectors[key]))
        return [vectors[k] for k in keys]


def embedding_provider(name: str, client: openai.AsyncOpenAI, cache: ReplyCache,
                       slots: asyncio.Semaphore) -> EmbeddingProvider:
    """The embedded MiniLM for a name in EMBEDDED_MODELS, otherwise that model on the judge's server."""
    if name in EMBEDDED_MODELS:
        return MiniLMEmbeddings()
    return OpenAIEmbeddings(client, name, cache, slots)
