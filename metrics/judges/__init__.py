"""Judges: whatever reads the answer and contexts and returns decompositions and verdicts."""
from .base import Judge

__all__ = ["Judge"]
