"""Judges: whatever reads the answer and contexts and returns decompositions, verdicts and relevance.

`llm.LLMJudge` speaks to any OpenAI-compatible server; `embedded.judge.EmbeddedJudge` runs in
this process with no network. Both speak `protocol.Judge`.
"""
from .protocol import Judge

__all__ = ["Judge"]
