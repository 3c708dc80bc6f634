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
import math
import os
from contextvars import ContextVar

import httpx
import openai

from ..answer_relevancy import AnswerRelevancyDetail
from ..context_precision import ContextPrecisionDetail
from ..context_recall import ContextRecallDetail
from ..faithfulness import FaithfulnessDetail
from ..judgements import (
    ClaimVerdict,
    ContextVerdict,
    ErrorInfo,
    GeneratedQuestion,
    JudgeError,
    JudgeInfo,
    StatementVerdict,
    Usage,
)
from ..metric_score import (
    INVALID_VALUE,
    JUDGE_ERROR,
    NO_CLAIMS,
    NO_STATEMENTS,
    MetricScore,
)
from ..sample import Sample
from ..semantic_similarity import SemanticSimilarityDetail
from .breaker import CircuitBreaker
from .cache import ReplyCache
from .errors import judge_error, server_problem, short
from .metered_transport import Meter, MeteredTransport, current_meter

# ragas posts usage analytics to its vendor unless told not to; a scoring service must not phone home.
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

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

    def __init__(self, *, model: str, embedding_model: str, api_key: str | None = None, base_url: str | None = None,
                 timeout: float = 60.0, max_retries: int = 4, concurrency: int = 16, cache: ReplyCache | None = None,
                 n_questions: int = 3, breaker: CircuitBreaker | None = None, default_threshold: float = 0.2):
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
        self.metrics = {
            "faithfulness": rc.Faithfulness(llm=llm),
            "answer_relevancy": rc.AnswerRelevancy(llm=llm, embeddings=embeddings, strictness=n_questions),
            "context_precision": rc.ContextPrecision(llm=llm),
            "context_utilization": rc.ContextUtilization(llm=llm),
            "context_recall": rc.ContextRecall(llm=llm),
            "semantic_similarity": rc.SemanticSimilarity(embeddings=embeddings),
        }
        self.breaker = breaker or CircuitBreaker()
        self.default_threshold = default_threshold
        self.info = JudgeInfo(name=self.name, model=model, embedding_model=embedding_model,
                              version=ragas.__version__)

    # ------------------------------------------------------------ scoring
    async def score_metrics(self, sample: Sample, names: list[str], usage: Usage,
                            errors: list[ErrorInfo]) -> dict[str, MetricScore]:
        """Each named metric's detail as ragas computes it; a metric that fails is null with `judge_error`."""
        token = current_meter.set(Meter(usage))
        try:
            outcomes = await asyncio.gather(*(self._one(name, sample) for name in names), return_exceptions=True)
        finally:
            current_meter.reset(token)
        details = {}
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                error = self._error(name, outcome)
                errors.append(error.info)
                details[name] = DETAILS[name].null(JUDGE_ERROR)
            else:
                details[name] = outcome
        return details

    async def _one(self, name: str, sample: Sample) -> MetricScore:
        self.breaker.check(f"ragas:{name}")
        replies: list = []
        _replies.set(replies)  # this task's own list: metrics scored side by side keep theirs apart
        metric = self.metrics[name]
        if name == "context_precision" and sample.reference is None:
            metric = self.metrics["context_utilization"]
        result = await metric.ascore(**_arguments(name, sample))
        self.breaker.succeeded()
        return DETAILS_FROM[name](float(result.value), replies, sample)

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


def _arguments(name: str, sample: Sample) -> dict:
    fields = {
        "faithfulness": ("user_input", "response", "retrieved_contexts"),
        "answer_relevancy": ("user_input", "response"),
        "context_precision": ("user_input", "reference", "retrieved_contexts") if sample.reference is not None
        else ("user_input", "response", "retrieved_contexts"),
        "context_recall": ("user_input", "retrieved_contexts", "reference"),
        "semantic_similarity": ("reference", "response"),
    }[name]
    return {f: getattr(sample, f) for f in fields}


# ---------------------------------------------------------------- ragas' replies as ragmeter's details
def _of(detail: type[MetricScore], value: float, nan_reason: str = INVALID_VALUE, **evidence) -> MetricScore:
    if math.isnan(value):
        return detail.null(nan_reason, **evidence)
    return detail.of(value, **evidence)


def _faithfulness(value: float, replies: list, sample: Sample) -> MetricScore:
    verdicts: list = next((r.statements for r in replies if type(r).__name__ == "NLIStatementOutput"), [])
    claims = [ClaimVerdict(claim=v.statement, verdict="supported" if v.verdict else "unsupported", reason=v.reason)
              for v in verdicts]
    # ragas gives NaN when it finds no statements in the answer: ragmeter's `no_claims`.
    return _of(FaithfulnessDetail, value, NO_CLAIMS, claims=claims)


def _answer_relevancy(value: float, replies: list, sample: Sample) -> MetricScore:
    generated = [r for r in replies if type(r).__name__ == "AnswerRelevanceOutput" and r.question]
    noncommittal = bool(generated) and all(r.noncommittal for r in generated)
    return _of(AnswerRelevancyDetail, value, noncommittal=noncommittal,
               questions=[GeneratedQuestion(question=r.question) for r in generated])


def _context_precision(value: float, replies: list, sample: Sample) -> MetricScore:
    verdicts = [r for r in replies if type(r).__name__ == "ContextPrecisionOutput"]
    contexts = [ContextVerdict(index=i, useful=bool(r.verdict), reason=r.reason) for i, r in enumerate(verdicts)]
    return _of(ContextPrecisionDetail, value, contexts=contexts,
               basis="reference" if sample.reference is not None else "response")


def _context_recall(value: float, replies: list, sample: Sample) -> MetricScore:
    found: list = next((r.classifications for r in replies if type(r).__name__ == "ContextRecallOutput"), [])
    statements = [StatementVerdict(statement=c.statement, attributable=bool(c.attributed), reason=c.reason)
                  for c in found]
    return _of(ContextRecallDetail, value, NO_STATEMENTS, statements=statements)


def _semantic_similarity(value: float, replies: list, sample: Sample) -> MetricScore:
    return _of(SemanticSimilarityDetail, value)


DETAILS_FROM = {"faithfulness": _faithfulness, "answer_relevancy": _answer_relevancy,
                "context_precision": _context_precision, "context_recall": _context_recall,
                "semantic_similarity": _semantic_similarity}
DETAILS: dict[str, type[MetricScore]] = {
    "faithfulness": FaithfulnessDetail, "answer_relevancy": AnswerRelevancyDetail,
    "context_precision": ContextPrecisionDetail, "context_recall": ContextRecallDetail,
    "semantic_similarity": SemanticSimilarityDetail}
