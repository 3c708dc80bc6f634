"""ragmeter's scoring library: the Ragas metrics, their judges and the hallucination gate.

    from ragmeter.metrics import Sample, evaluate
    from ragmeter.metrics.judges.llm import LLMJudge
    results = await evaluate([Sample(question=..., contexts=[...], answer=...)], LLMJudge.create(...))
"""
from .gate import GateConfig, GateResult
from .judgements import Usage
from .registry import DEFAULT_METRICS, METRIC_NAMES, METRICS, MetricName
from .results import SampleResult
from .sample import Sample
from .scoring import evaluate, score_sample

__all__ = ["DEFAULT_METRICS", "GateConfig", "GateResult", "METRICS", "METRIC_NAMES", "MetricName", "Sample",
           "SampleResult", "Usage", "evaluate", "score_sample"]
