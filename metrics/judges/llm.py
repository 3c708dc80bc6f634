"""The LLM judge: any OpenAI-compatible chat endpoint (OpenAI, Azure, vLLM, Ollama, llama.cpp).

Two chat calls per sample at most (decompose, verify), a third (compare) only for the correctness metrics,
plus one embedding call, at temperature 0,
with structured output validated by pydantic (`llm_replies.py`). Transport retries (429/5xx/timeouts, honouring
Retry-After) are the openai SDK's own; on top of them: one repair attempt for invalid output,
one cap on calls in flight, and a cache so an identical request is never paid twice.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Callable
from typing import Literal, TypeVar

import openai
from pydantic import ValidationError

from ..answer_relevancy import cosine_similarities
from ..judgements import (Comparison, Decomposition, GeneratedQuestion, JudgeError, JudgeInfo, Needs, Relevance, Usage,
                          Verification)
from ..sample import Sample
from . import llm_replies, prompts
from .breaker import CircuitBreaker
from .cache import ReplyCache, request_key
from .embeddings import embedding_provider
from .errors import judge_error, server_problem, short

T = TypeVar("T")
ResponseFormat = Literal["json_schema", "json_object", "none"]
# A server that refuses a response_format (llama.cpp answers json_schema with HTTP 500) is asked with
# the next one; "none" relies on the prompt, which lists the keys to reply with.
FALLBACK: dict[str, ResponseFormat] = {"json_schema": "json_object", "json_object": "none"}
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|schema|grammar", re.IGNORECASE)
log = logging.getLogger("ragmeter.judge")


class _FormatRejected(Exception):
    def __init__(self, fmt: str, message: str):
        super().__init__(message)
        self.fmt, self.message = fmt, message

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


class LLMJudge:
    name = "openai"
    # The verify prompt holds every context at once: 400,000 characters is about 100,000 tokens (4 a token
    # in English), inside a 128k-token context window with room for the instructions and the reply.
    max_sample_chars = 400_000

    def __init__(self, client: openai.AsyncOpenAI, *, model: str, embedding_model: str,
                 concurrency: int = 16, cache: ReplyCache | None = None, n_questions: int = 3,
                 response_format: ResponseFormat = "json_schema", default_threshold: float = 0.2,
                 breaker: CircuitBreaker | None = None):
        self.client = client
        self.model = model
        self.embedding_model = embedding_model
        self.n_questions = n_questions
        self.response_format = response_format
        self.breaker = breaker or CircuitBreaker()
        self.default_threshold = default_threshold
        self.cache = cache or ReplyCache()
        # One cap for the whole process: every sample of every request shares these slots.
        self._slots = asyncio.Semaphore(concurrency)
        self.embeddings = embedding_provider(embedding_model, client, self.cache, self._slots)
        self.info = JudgeInfo(name=self.name, model=model, embedding_model=embedding_model)

    @classmethod
    def create(cls, *, model: str, embedding_model: str, api_key: str | None = None,
               base_url: str | None = None, timeout: float = 60.0, max_retries: int = 4,
               **options) -> LLMJudge:
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
            "decompose", prompts.decompose_messages(sample, need, n),
            llm_replies.decompose_schema(need, n),
            lambda data: llm_replies.parse_decomposition(data, need, n), usage)

    async def verify(self, sample: Sample, parts: Decomposition, need: Needs, usage: Usage) -> Verification:
        counts = llm_replies.verify_counts(sample, parts, need)
        if not counts:
            return Verification()
        return await self._chat_json(
            "verify", prompts.verify_messages(sample, parts, need),
            llm_replies.verify_schema(counts, need.chunk_support),
            lambda data: llm_replies.parse_verification(data, sample, parts, counts, need.chunk_support), usage)

    async def relevance(self, sample: Sample, parts: Decomposition, usage: Usage) -> Relevance:
        """The generated questions, each with its embedding's cosine to the question asked."""
        if parts.noncommittal or not parts.questions:
            return Relevance(noncommittal=parts.noncommittal,
                             questions=[GeneratedQuestion(question=q) for q in parts.questions])
        vectors = await self.embeddings.embed([sample.user_input] + parts.questions, usage)
        sims = cosine_similarities(vectors[0], vectors[1:])
        return Relevance(questions=[GeneratedQuestion(question=q, similarity=s)
                                    for q, s in zip(parts.questions, sims, strict=True)])

    async def embed(self, texts: list[str], usage: Usage) -> list[list[float]]:
        return await self.embeddings.embed(texts, usage)

    async def compare(self, sample: Sample, parts: Decomposition, usage: Usage) -> Comparison:
        """One chat call: the answer's claims against the reference, the reference's statements against the answer."""
        counts = llm_replies.compare_counts(parts)
        if not counts:
            return Comparison()
        return await self._chat_json(
            "compare", prompts.compare_messages(sample, parts), llm_replies.compare_schema(counts),
            lambda data: llm_replies.parse_comparison(data, parts, counts), usage)

    def unavailable_for(self) -> float:
        return self.breaker.open_for()

    def _failed(self, error: JudgeError) -> JudgeError:
        self.breaker.failed(error)
        return error

    async def ready(self) -> tuple[bool, str]:
        if problem := await server_problem(self.client, self.breaker):
            return False, problem
        return True, f"{self.client.base_url} reachable; replies asked as {self.response_format}"

    async def aclose(self) -> None:
        await self.client.close()
        self.cache.close()

    # ------------------------------------------------------------ calls
    async def _chat_json(self, stage: str, messages: list[dict], schema: dict,
                         parse: Callable[[dict], T], usage: Usage) -> T:
        while True:
            try:
                return await self._chat_json_as(self.response_format, stage, messages, schema, parse, usage)
            except _FormatRejected as rejected:
                if self.response_format == rejected.fmt:  # another call may have stepped down already
                    self.response_format = FALLBACK[rejected.fmt]
                    log.warning("the judge server refused response_format=%s (%s); asking with %s from now on",
                                rejected.fmt, rejected.message, self.response_format)

    async def _chat_json_as(self, fmt: ResponseFormat, stage: str, messages: list[dict], schema: dict,
                            parse: Callable[[dict], T], usage: Usage) -> T:
        payload: dict = {"model": self.model, "messages": messages, "temperature": 0}
        if fmt == "json_schema":
            payload["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": stage, "schema": schema, "strict": True}}
        elif fmt == "json_object":
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
                {"role": "user", "content": f"That reply is not valid: {short(problem)}. "
                                            "Reply again with only the corrected JSON object."},
            ]
            content = await self._complete(stage, {**payload, "messages": repair}, usage)
            try:
                result = parse(_load_json(content))
            except (ValueError, ValidationError) as still:
                raise JudgeError(stage, "invalid_output",
                                 f"judge output invalid after one repair attempt: {short(still)}") from still
        self.cache.put(key, content)
        return result

    async def _complete(self, stage: str, payload: dict, usage: Usage) -> str:
        self.breaker.check(stage)
        async with self._slots:
            try:
                reply = await self.client.chat.completions.create(**payload)
            except openai.APIStatusError as exc:
                fmt = (payload.get("response_format") or {}).get("type")
                if fmt in FALLBACK and exc.status_code in (400, 422, 500, 501) and _FORMAT_WORDS.search(str(exc)):
                    raise _FormatRejected(fmt, short(exc, 200)) from exc
                raise self._failed(judge_error(stage, exc)) from exc
            except openai.OpenAIError as exc:
                raise self._failed(judge_error(stage, exc)) from exc
        self.breaker.succeeded()
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
