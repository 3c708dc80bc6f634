"""The embedded judge's support scorer: P(a claim is supported | the contexts), with its best evidence.

It combines embedding similarity between the claim and the contexts' sentences with lexical
evidence (coverage of content words, numbers and names; negation mismatch). The combining
weights are learned by `bench/train_support.py` and stored in `assets/support_weights.json`.
All features are bounded and per claim, so they transfer between datasets of different shapes.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import text

WEIGHTS_FILE = Path(__file__).resolve().parent / "assets" / "support_weights.json"

FEATURES = (
    "sim_max",        # cosine of the claim with its best-matching context sentence
    "sim_window",     # cosine with the best sentence and its neighbours, averaged
    "cov_all",        # share of the claim's content words found anywhere in the contexts
    "cov_window",     # ... found in the best sentence and its neighbours
    "cov_sentence",   # best share found within a single sentence
    "missing",        # content words found nowhere, capped at 4, scaled to [0, 1]
    "numbers_ok",     # every number of the claim occurs in the contexts (1 when it has none)
    "names_ok",       # share of the claim's capitalised names found in the contexts
    "negation_clash", # the claim and its best sentence disagree on negation
    "short",          # the claim has at most two content words
)


@dataclass
class ContextIndex:
    """One context read once: its sentences, their embeddings and their lexical sets."""

    text: str
    sentences: list[str]
    embeddings: np.ndarray  # (n_sentences, dim), L2-normalised
    stems: list[frozenset[str]]
    all_stems: frozenset[str]
    numbers: frozenset[str]
    names: frozenset[str]
    negated: list[bool]


@dataclass
class Claim:
    """A claim as the scorer sees it: text to match on, its embedding and lexical sets."""

    text: str
    embedding: np.ndarray
    stems: frozenset[str] = field(default_factory=frozenset)
    numbers: frozenset[str] = field(default_factory=frozenset)
    names: frozenset[str] = field(default_factory=frozenset)
    negated: bool = False

    @classmethod
    def of(cls, claim: str, embedding: np.ndarray) -> "Claim":
        return cls(text=claim, embedding=embedding, stems=frozenset(text.content_stems(claim)),
                   numbers=frozenset(text.numbers(claim)), names=frozenset(text.names(" " + claim)),
                   negated=text.negated(claim))


@dataclass
class Support:
    probability: float
    context_index: int | None
    evidence: str
    features: dict[str, float]
    missing: list[str]


@dataclass(frozen=True)
class SupportModel:
    """Logistic weights over FEATURES, and the cut-offs chosen on dev data."""

    weights: tuple[float, ...]
    bias: float
    claim_cutoff: float = 0.5
    threshold: float = 0.2
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> "SupportModel":
        data = json.loads(path.read_text())
        if tuple(data["features"]) != FEATURES:
            raise ValueError(f"{path} was trained on other features: {data['features']}")
        return cls(weights=tuple(data["weights"]), bias=data["bias"], claim_cutoff=data["claim_cutoff"],
                   threshold=data["threshold"], meta=data.get("meta", {}))

    def probability(self, features: dict[str, float]) -> float:
        z = self.bias + sum(w * features[name] for w, name in zip(self.weights, FEATURES))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def claim_features(claim: Claim, contexts: list[ContextIndex]) -> tuple[dict[str, float], int | None, int | None,
                                                                       list[str]]:
    """Features of a claim against contexts; also the best context, best sentence and missing words."""
    if not contexts or not any(c.sentences for c in contexts):
        return dict.fromkeys(FEATURES, 0.0), None, None, sorted(claim.stems)
    sims = [c.embeddings @ claim.embedding for c in contexts]
    best_ctx = max(range(len(contexts)), key=lambda i: float(sims[i].max()) if len(sims[i]) else -1.0)
    best_sent = int(np.argmax(sims[best_ctx]))
    ctx = contexts[best_ctx]
    lo, hi = max(0, best_sent - 1), min(len(ctx.sentences), best_sent + 2)
    window = np.mean(ctx.embeddings[lo:hi], axis=0)
    norm = float(np.linalg.norm(window))

    all_stems = frozenset().union(*(c.all_stems for c in contexts))
    window_stems = frozenset().union(*ctx.stems[lo:hi])
    stems = claim.stems
    missing = sorted(stems - all_stems)
    cov = (lambda pool: len(stems & pool) / len(stems)) if stems else (lambda pool: 1.0)
    cov_sentence = max((cov(s) for c in contexts for s in c.stems), default=0.0)
    ctx_numbers = frozenset().union(*(c.numbers for c in contexts))
    ctx_names = frozenset().union(*(c.names for c in contexts)) | all_stems

    features = {
        "sim_max": float(sims[best_ctx][best_sent]),
        "sim_window": float(window @ claim.embedding / norm) if norm > 0 else 0.0,
        "cov_all": cov(all_stems),
        "cov_window": cov(window_stems),
        "cov_sentence": cov_sentence,
        "missing": min(len(missing), 4) / 4.0,
        "numbers_ok": float(claim.numbers <= ctx_numbers),
        "names_ok": len(claim.names & ctx_names) / len(claim.names) if claim.names else 1.0,
        "negation_clash": float(claim.negated != ctx.negated[best_sent]),
        "short": float(len(stems) <= 2),
    }
    return features, best_ctx, best_sent, missing


def score_claim(model: SupportModel, claim: Claim, contexts: list[ContextIndex]) -> Support:
    """P(supported) of one claim against contexts, with the sentence that best supports it."""
    features, best_ctx, best_sent, missing = claim_features(claim, contexts)
    if best_ctx is None:
        return Support(0.0, None, "", features, missing)
    return Support(model.probability(features), best_ctx, contexts[best_ctx].sentences[best_sent], features, missing)
