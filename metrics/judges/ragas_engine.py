"""The ragas engine: ragas' own metric implementations behind ragmeter's API, result shape, cache and caps.

Optional (`pip install 'ragmeter[ragas]'`). It does not speak the judge protocol's decompose/verify:
ragas computes whole metrics, so `score_sample` asks it for metric details (`score_metrics`) and
applies the gate as for every judge. Each metric's structured replies (statements with verdicts,
generated questions, per-context verdicts, attributed statements) become that metric's `details`;
where ragas gives NaN the score is null with a reason. Calls go through `MeteredTransport`, so the
cap on calls in flight, the reply cache and the usage counts are the service's own; retries are the
openai SDK's, as for the LLM judge.
"""
from __future__ import annotations

import asyncio
import os
from contextvars import ContextVar

import httpx
import openai

from ..judgements import ErrorInfo, JudgeError, JudgeInfo, Usage
from ..metric import RagasCounterpart
from ..metric_score import JUDGE_ERROR, NOT_IN_ENGINE, MetricScore
from ..registry import BY_NAME
from ..sample import Sample
from .breaker import CircuitBreaker
from .cache import ReplyCache
from .errors import judge_error, server_problem, short
from .metered_transport import Meter, MeteredTransport, current_meter

MISSING = ("RAGMETER_JUDGE=ragas needs the optional ragas engine: pip install 'ragmeter[ragas]' "
           "(ragas 0.4.3 with langchain-community<0.4)")
_replies: ContextVar[list | None] = ContextVar("ragmeter_ragas_replies", default=None)


def ragas_problem() -> str | None:
    """Why the ragas engine cannot run here, or None when it can."""
    try:
        import ragas  # noqa: F401
        from ragas.metrics.collections import Faithfulness  # noqa: F401
    except ImportError as exc:
        return f"{MISSING}; import failed: {exc}"
    return None


class RagasEngine:
    name = "ragas"
    max_sample_chars = 400_000  # its prompts hold every context too: the LLM judge's cap

    def __init__(self, *, model: str, embedding_model: str, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 60.0, max_retries: int = 4, concurrency: int = 16, cache: ReplyCache | None = None,
                 n_questions: int = 3, breaker: CircuitBreaker | None = None, default_threshold: float = 0.2):
        # ragas posts usage analytics to its vendor unless told not to; a scoring service must not phone home.
        # Set here, not on import, and only when the user has not chosen.
        os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")
        import ragas
        from ragas.embeddings.base import embedding_factory
        from ragas.llms import llm_factory
        from ragas.metrics import collections as rc

        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = api_key or os.environ.get("OPENAI_API_KEY") or ("not-needed" if base_url else None)
        self.cache = cache or ReplyCache()
        transport = MeteredTransport(asyncio.Semaphore(concurrency), self.cache)
        http_client = httpx.AsyncClient(transport=transport, timeout=timeout)
        # The ragas extra pins openai below 2, whose client takes an httpx client; openai 3's types want httpx2's.
        self.client = openai.AsyncOpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries,
                                         http_client=http_client)  # type: ignore[arg-type]
        llm = llm_factory(model, client=self.client)
        llm.agenerate = _recording(llm.agenerate)
        embeddings = embedding_factory("openai", model=embedding_model, client=self.client)
        built = {"llm": llm, "embeddings": embeddings, "strictness": n_questions}

        def make(counterpart: RagasCounterpart):
            return getattr(rc, counterpart.metric)(**{option: built[option] for option in counterpart.uses})

        # Each metric's ragas counterpart, as its module declares it (and the one ragas runs without a reference).
        self.metrics = {c.metric: make(c) for m in BY_NAME.values() if m.ragas
                        for c in (m.ragas, m.ragas.without_reference) if c}
        self.breaker = breaker or CircuitBreaker()
        self.default_threshold = default_threshold
        self.info = JudgeInfo(name=self.name, model=model, embedding_model=embedding_model,
                              version=ragas.__version__)

    # ------------------------------------------------------------ scoring
    async def score_metrics(self, sample: Sample, names: list[str], usage: Usage,
                            errors: list[ErrorInfo]) -> dict[str, MetricScore]:
        """Each named metric's detail as ragas computes it; a metric that fails is null with `judge_error`."""
        # A metric ragas does not have (RAGChecker's, the citation checks) is null with a reason, costing no call.
        details: dict[str, MetricScore] = {name: BY_NAME[name].detail.null(NOT_IN_ENGINE)
                                           for name in names if BY_NAME[name].ragas is None}
        names = [name for name in names if name not in details]
        token = current_meter.set(Meter(usage))
        try:
            outcomes = await asyncio.gather(*(self._one(name, sample) for name in names), return_exceptions=True)
        finally:
            current_meter.reset(token)
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                error = self._error(name, outcome)
                errors.append(error.info)
                details[name] = BY_NAME[name].detail.null(JUDGE_ERROR)
            else:
                details[name] = outcome
        return details

    async def _one(self, name: str, sample: Sample) -> MetricScore:
        self.breaker.check(f"ragas:{name}")
        counterpart = BY_NAME[name].ragas
        if counterpart is None:
            raise JudgeError(f"ragas:{name}", "invalid_output", f"ragas has no counterpart of {name}")
        if sample.reference is None and counterpart.without_reference is not None:
            counterpart = counterpart.without_reference
        replies: list = []
        _replies.set(replies)  # this task's own list: metrics scored side by side keep theirs apart
        result = await self.metrics[counterpart.metric].ascore(**{f: getattr(sample, f) for f in counterpart.fields})
        self.breaker.succeeded()
        return counterpart.details(float(result.value), replies, sample)

    def _error(self, name: str, problem: BaseException) -> JudgeError:
        stage = f"ragas:{name}"
        cause = _openai_cause(problem)
        if cause is not None:
            error = judge_error(stage, cause)
            self.breaker.failed(error)
            return error
        if isinstance(problem, JudgeError):
            return problem
        return JudgeError(stage, "invalid_output", f"ragas could not score it: {type(problem).__name__}: "
                                                   f"{short(problem, 300)}")

    # ------------------------------------------------------------ the rest of the judge's surface
    def unavailable_for(self) -> float:
        return self.breaker.open_for()

    async def ready(self) -> tuple[bool, str]:
        if problem := await server_problem(self.client, self.breaker):
            return False, problem
        return True, f"ragas {self.info.version} scoring through {self.client.base_url}"

    async def aclose(self) -> None:
        await self.client.close()
        self.cache.close()


def _recording(agenerate):
    """Keep every structured reply ragas receives, in the list of the metric task that asked for it."""
    async def wrapped(prompt, response_model):
        reply = await agenerate(prompt, response_model)
        if (replies := _replies.get()) is not None:
            replies.append(reply)
        return reply

    return wrapped


def _openai_cause(problem: BaseException) -> openai.OpenAIError | None:
    """The openai error behind a failure, also when instructor or ragas wrapped it."""
    seen: BaseException | None = problem
    for _ in range(5):
        if seen is None or isinstance(seen, openai.OpenAIError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
