"""Judges: whatever reads the answer and contexts and returns decompositions, verdicts and relevance.

`registry.py` declares every judge ragmeter ships (embedded, openai, cascade, ragas) and builds one
from a `config.JudgeConfig`. Per-judgement judges speak `protocol.Judge`; whole-metric engines
(ragas) speak `protocol.MetricEngine`.
"""
from .protocol import Judge, MetricEngine, Scorer

__all__ = ["Judge", "MetricEngine", "Scorer"]
