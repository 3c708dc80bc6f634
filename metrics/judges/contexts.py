"""Reads each context once for the embedded judge: split, encode and index, cached by content hash.

The same contexts recur across the metrics of a sample and across samples of a batch; splitting
(pysbd) and encoding are the expensive steps, so both are done once per distinct context.
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from . import text
from .support import ContextIndex


class ContextStore:
    def __init__(self, encoder, max_entries: int = 4096):
        self.encoder = encoder
        self._cache: OrderedDict[str, ContextIndex] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def index(self, contexts: list[str]) -> list[ContextIndex]:
        """Indexes for the contexts, encoding the sentences of all unseen contexts in one batch."""
        keys = [hashlib.sha1(c.encode()).hexdigest() for c in contexts]
        with self._lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
            for k in found:
                self._cache.move_to_end(k)
        fresh = {k: c for k, c in zip(keys, contexts) if k not in found}
        if fresh:
            split = {k: text.sentences(c) or [c] for k, c in fresh.items()}
            flat = [s for sents in split.values() for s in sents]
            vectors = self.encoder.encode(flat)
            start = 0
            for k, sents in split.items():
                found[k] = build_index(fresh[k], sents, vectors[start:start + len(sents)])
                start += len(sents)
            with self._lock:
                for k in split:
                    self._cache[k] = found[k]
                while len(self._cache) > self._max:
                    self._cache.popitem(last=False)
        return [found[k] for k in keys]


def build_index(context: str, sentences: list[str], embeddings: np.ndarray) -> ContextIndex:
    stems = [frozenset(text.content_stems(s)) for s in sentences]
    return ContextIndex(
        text=context,
        sentences=sentences,
        embeddings=embeddings,
        stems=stems,
        all_stems=frozenset().union(*stems),
        numbers=frozenset(text.numbers(context)),
        names=frozenset(text.names(context)),
        negated=[text.negated(s) for s in sentences],
    )
