"""The embedded judge's entailment head: P(an evidence passage supports a claim), read token by token.

Each token of the claim is aligned with the passage's tokens (attention over the sentence encoder's
contextual token vectors, the same MiniLM run that embeds sentences), compared with what it aligned
to, and the comparisons pooled: a word the passage has no counterpart for ("not", an invented
detail, a swapped name) leaves a trace that a sentence embedding averages away. The judge's lexical
features (support.FEATURES) join at the last layer. Weights come from `bench/train_entailment.py`,
trained on human-labelled faithfulness data; numpy only at run time.
"""
from __future__ import annotations

import json
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HEAD_FILE = Path(__file__).resolve().parent / "assets" / "entailment_head.npz"
_ARRAYS = ("proj", "proj_b", "w1", "b1", "w2", "b2", "w3", "b3")


@dataclass(frozen=True)
class EntailmentHead:
    """Weights of the alignment head (see bench/train_entailment.py's `Head` for the same network in torch)."""

    proj: np.ndarray  # 384 x d
    proj_b: np.ndarray
    w1: np.ndarray  # (4d + 1) x h: [claim, aligned, difference, product, best cosine]
    b1: np.ndarray
    w2: np.ndarray  # (2h + features) x h2: max- and mean-pooled comparisons, then the lexical features
    b2: np.ndarray
    w3: np.ndarray  # h2
    b3: float
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def load(cls, path: str | Path = HEAD_FILE) -> EntailmentHead:
        """Read the weights (an .npz written by the training script); nothing is downloaded."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: np.asarray(data[name], dtype=np.float32) for name in _ARRAYS}
            meta = json.loads(str(data["meta"])) if "meta" in data else {}
        return cls.from_arrays(arrays, meta)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict | None = None) -> EntailmentHead:
        """The head from its named weight arrays (as the training script exports them)."""
        a = {name: np.asarray(arrays[name], dtype=np.float32) for name in _ARRAYS}
        return cls(proj=a["proj"], proj_b=a["proj_b"], w1=a["w1"], b1=a["b1"], w2=a["w2"], b2=a["b2"],
                   w3=a["w3"], b3=float(a["b3"]), meta=meta or {})

    @property
    def features(self) -> tuple[str, ...]:
        """The lexical features the last layer reads, in order."""
        return tuple(self.meta.get("features", ()))

    def probability(self, claim: np.ndarray, evidence: np.ndarray, features: np.ndarray) -> float:
        """P(supported) from the claim's and the passage's token vectors and the claim's lexical features."""
        if len(claim) == 0 or len(evidence) == 0:
            return 0.0
        a = claim @ self.proj + self.proj_b
        b = evidence @ self.proj + self.proj_b
        scores = a @ b.T / math.sqrt(a.shape[1])
        scores -= scores.max(axis=1, keepdims=True)
        weights = np.exp(scores)
        weights /= weights.sum(axis=1, keepdims=True)
        aligned = weights @ b
        unit_a = claim / np.clip(np.linalg.norm(claim, axis=1, keepdims=True), 1e-6, None)
        unit_b = evidence / np.clip(np.linalg.norm(evidence, axis=1, keepdims=True), 1e-6, None)
        cosine = (unit_a @ unit_b.T).max(axis=1, keepdims=True)
        h = np.maximum(np.concatenate([a, aligned, a - aligned, a * aligned, cosine], axis=1) @ self.w1 + self.b1, 0)
        pooled = np.concatenate([h.max(axis=0), h.mean(axis=0), features.astype(np.float32)])
        z = float(np.maximum(pooled @ self.w2 + self.b2, 0) @ self.w3 + self.b3)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class TokenCache:
    """Token vectors of recent passages, so that a context seen again costs no encoder run (bounded)."""

    def __init__(self, encoder, max_entries: int = 4096):
        self.encoder = encoder
        self.max_entries = max_entries
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()

    def states(self, texts: list[str], cache: bool = True) -> list[np.ndarray]:
        """Token vectors of each text; `cache=False` for one-off texts such as claims."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._items))
        found = dict(zip(todo, self.encoder.token_states(todo), strict=True)) if todo else {}
        out = []
        for t in texts:
            if t in found:
                out.append(found[t])
            else:
                self._items.move_to_end(t)
                out.append(self._items[t])
        if cache:
            for t, v in found.items():
                self._items[t] = v.astype(np.float16)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return [v.astype(np.float32, copy=False) for v in out]
