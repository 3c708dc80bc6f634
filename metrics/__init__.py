"""ragmeter's scoring library: the four Ragas metrics, their judges and the hallucination gate.

    from metrics import Sample, evaluate
    from metrics.judges.llm import LLMJudge
    results = await evaluate([Sample(question=..., contexts=[...], answer=...)], LLMJudge.create(...))
"""
from .gate import GateConfig, GateResult
from .scoring import SampleResult, evaluate, score_sample
from .types import METRIC_NAMES, Sample, Usage

__all__ = ["GateConfig", "GateResult", "METRIC_NAMES", "Sample", "SampleResult", "Usage", "evaluate", "score_sample"]
