"""The LLM judge: any OpenAI-compatible chat endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp).

Two chat calls per sample at most (decompose, verify) plus one embedding call, at temperature 0,
with structured output validated by pydantic. Transport retries (429/5xx/timeouts, honouring
Retry-After) are the openai SDK's own; on top of them: one repair attempt for invalid output,
one cap on calls in flight, and a cache so an identical request is never paid twice.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from typing import Literal, TypeVar

import openai
from pydantic import ValidationError

from ..types import Decomposition, JudgeError, JudgeInfo, Needs, Sample, Usage, Verification
from . import prompts
from .cache import ReplyCache, request_key

T = TypeVar("T")
ResponseFormat = Literal["json_schema", "json_object", "none"]
# RAGMETER_EMBEDDING_MODEL=local: answer relevancy embeds with the embedded MiniLM, not the server.
LOCAL_EMBEDDINGS = "local"

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


class LLMJudge:
    name = "openai"

    def __init__(self, client: openai.AsyncOpenAI, *, model: str, embedding_model: str,
                 concurrency: int = 16, cache: ReplyCache | None = None, n_questions: int = 3,
                 response_format: ResponseFormat = "json_schema", default_threshold: float = 0.2):
        self.client = client
        self.model = model
        self.embedding_model = embedding_model
        self.n_questions = n_questions
        self.response_format = response_format
        self.default_threshold = default_threshold
        self.cache = cache or ReplyCache()
        self.info = JudgeInfo(name=self.name, model=model, embedding_model=embedding_model)
        # One cap for the whole process: every sample of every request shares these slots.
        self._slots = asyncio.Semaphore(concurrency)
        self._encoder = None

    @classmethod
    def create(cls, *, model: str, embedding_model: str, api_key: str | None = None,
               base_url: str | None = None, timeout: float = 60.0, max_retries: int = 4,
               **options) -> "LLMJudge":
        """Build a judge with its own AsyncOpenAI client; unset key and URL come from OPENAI_* env vars."""
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not api_key and base_url:
            api_key = "not-needed"  # local servers (vLLM, Ollama, llama.cpp) take any key
        client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
        return cls(client, model=model, embedding_model=embedding_model, **options)

    # ------------------------------------------------------------ the protocol
    async def decompose(self, sample: Sample, need: Needs, usage: Usage) -> Decomposition:
        if not need.decompose:
            return Decomposition()
        n = self.n_questions
        return await self._chat_json(
            "decompose", prompts.decompose_messages(sample, need, n), prompts.decompose_schema(need, n),
            lambda data: prompts.parse_decomposition(data, need, n), usage)

    async def verify(self, sample: Sample, parts: Decomposition, need: Needs, usage: Usage) -> Verification:
        counts = prompts.verify_counts(sample, parts, need)
        if not counts:
            return Verification()
        return await self._chat_json(
            "verify", prompts.verify_messages(sample, parts, need), prompts.verify_schema(counts),
            lambda data: prompts.parse_verification(data, sample, parts, counts), usage)

    async def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        if self.embedding_model == LOCAL_EMBEDDINGS:
            return await self._embed_locally(texts)
        keys = [request_key({"model": self.embedding_model, "input": t}) for t in texts]
        vectors: dict[str, list[float]] = {}
        for key in keys:
            if (hit := self.cache.get(key)) is not None:
                vectors[key] = json.loads(hit)
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys) if k not in vectors))
        if missing:
            async with self._slots:
                try:
                    reply = await self.client.embeddings.create(model=self.embedding_model, input=missing)
                except openai.OpenAIError as exc:
                    raise _judge_error("embed", exc) from exc
            usage.embedding_calls += 1
            usage.embedding_tokens += reply.usage.prompt_tokens if reply.usage else 0
            if len(reply.data) != len(missing):
                raise JudgeError("embed", "invalid_output", f"{len(reply.data)} embeddings for {len(missing)} texts")
            for item in sorted(reply.data, key=lambda d: d.index):
                key = request_key({"model": self.embedding_model, "input": missing[item.index]})
                vectors[key] = list(item.embedding)
                self.cache.put(key, json.dumps(vectors[key]))
        else:
            usage.cached_calls += 1
        return [vectors[k] for k in keys]

    async def _embed_locally(self, texts: list[str]) -> list[list[float]]:
        """The embedded MiniLM, for servers that have chat models but no embedding endpoint."""
        if self._encoder is None:
            from .encoder import Encoder

            self._encoder = await asyncio.to_thread(Encoder.load)
        return (await asyncio.to_thread(self._encoder.encode, texts)).tolist()

    async def ready(self) -> tuple[bool, str]:
        try:
            await self.client.models.list(timeout=5.0)
        except openai.NotFoundError:
            pass  # some compatible servers have no /models; it answered, so it is reachable
        except openai.OpenAIError as exc:
            return False, _judge_error("ready", exc).info.message
        return True, f"{self.client.base_url} reachable"

    async def aclose(self) -> None:
        await self.client.close()
        self.cache.close()

    # ------------------------------------------------------------ calls
    async def _chat_json(self, stage: str, messages: list[dict], schema: dict,
                         parse: Callable[[dict], T], usage: Usage) -> T:
        payload: dict = {"model": self.model, "messages": messages, "temperature": 0}
        if self.response_format == "json_schema":
            payload["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": stage, "schema": schema, "strict": True}}
        elif self.response_format == "json_object":
            payload["response_format"] = {"type": "json_object"}
        key = request_key(payload)

        if (hit := self.cache.get(key)) is not None:
            try:
                result = parse(_load_json(hit))
                usage.cached_calls += 1
                return result
            except (ValueError, ValidationError):
                pass  # a stale entry from older parsing rules: ask again

        content = await self._complete(stage, payload, usage)
        try:
            result = parse(_load_json(content))
        except (ValueError, ValidationError) as problem:
            # One repair attempt: show the model its reply and what is wrong with it.
            repair = messages + [
                {"role": "assistant", "content": content},
                {"role": "user", "content": f"That reply is not valid: {_short(problem)}. "
                                            "Reply again with only the corrected JSON object."},
            ]
            content = await self._complete(stage, {**payload, "messages": repair}, usage)
            try:
                result = parse(_load_json(content))
            except (ValueError, ValidationError) as still:
                raise JudgeError(stage, "invalid_output",
                                 f"judge output invalid after one repair attempt: {_short(still)}") from still
        self.cache.put(key, content)
        return result

    async def _complete(self, stage: str, payload: dict, usage: Usage) -> str:
        async with self._slots:
            try:
                reply = await self.client.chat.completions.create(**payload)
            except openai.OpenAIError as exc:
                raise _judge_error(stage, exc) from exc
        usage.chat_calls += 1
        if reply.usage:
            usage.prompt_tokens += reply.usage.prompt_tokens or 0
            usage.completion_tokens += reply.usage.completion_tokens or 0
        if not reply.choices:
            return ""
        return reply.choices[0].message.content or ""


def _load_json(content: str) -> dict:
    text = _FENCE.sub("", content.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the reply holds no JSON object")
    try:
        data = json.loads(text[start:end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg} at character {exc.pos})") from exc
    if not isinstance(data, dict):
        raise ValueError("the reply is not a JSON object")
    return data


def _short(problem: Exception, limit: int = 400) -> str:
    text = str(problem).replace("\n", " ")
    return text if len(text) <= limit else text[:limit] + "..."


def _judge_error(stage: str, exc: openai.OpenAIError) -> JudgeError:
    if isinstance(exc, openai.APITimeoutError):
        return JudgeError(stage, "timeout", "the judge did not answer in time, after retries")
    if isinstance(exc, openai.APIConnectionError):
        return JudgeError(stage, "unreachable", f"cannot reach the judge: {exc}")
    if isinstance(exc, openai.RateLimitError):
        return JudgeError(stage, "rate_limited", "the judge kept answering 429 after retries")
    if isinstance(exc, openai.AuthenticationError):
        return JudgeError(stage, "auth", "the judge refused the API key (401)")
    if isinstance(exc, openai.APIStatusError):
        return JudgeError(stage, f"http_{exc.status_code}", _short(exc, 300))
    return JudgeError(stage, "judge_failed", _short(exc, 300))
