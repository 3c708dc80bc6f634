"""Reads each context once for the embedded judge: split and indexed, cached by content hash.

The same contexts recur across the metrics of a sample and across samples of a batch. Splitting
(pysbd) and encoding are the expensive steps: splitting is done once per distinct context, and a
sentence is encoded once, the first time some claim needs it (its vector stays in the index).
"""
from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from itertools import pairwise

import numpy as np

from ...evidence import normalise
from . import text
from .claims import claim_texts
from .support import Claim, ContextIndex, needed_sentences


class ContextStore:
    def __init__(self, encoder, max_entries: int = 4096):
        self.encoder = encoder
        self._cache: OrderedDict[str, ContextIndex] = OrderedDict()
        self._texts: OrderedDict[str, np.ndarray] = OrderedDict()  # claims, statements, questions
        self._max = max_entries
        self._lock = threading.Lock()

    def encode(self, texts: list[str], extra: list[str] | None = None) -> list[np.ndarray]:
        """Vectors of `texts` (cached) then of `extra` (not cached), encoding all that is new in one batch."""
        extra = extra or []
        missing = [t for t in dict.fromkeys(texts) if t not in self._texts]
        fresh = self.encoder.encode(missing + extra) if missing or extra else []
        with self._lock:
            # `fresh` ends with the vectors of `extra`, which are not cached.
            for t, v in zip(missing, fresh, strict=False):
                self._texts[t] = v
            head = [self._texts[t] for t in texts]
            while len(self._texts) > 4 * self._max:
                self._texts.popitem(last=False)
        return head + list(fresh[len(missing):])

    def index(self, contexts: list[str]) -> list[ContextIndex]:
        """The index of each context, splitting the ones not seen before."""
        out = []
        for context in contexts:
            key = hashlib.sha1(context.encode()).hexdigest()
            with self._lock:
                found = self._cache.get(key)
                if found is not None:
                    self._cache.move_to_end(key)
            if found is None:
                found = build_index(context)
                with self._lock:
                    self._cache[key] = found
                    while len(self._cache) > self._max:
                        self._cache.popitem(last=False)
            out.append(found)
        return out

    def embed(self, claims: list[Claim], contexts: list[ContextIndex]) -> None:
        """Encode, in one batch, each claim and every context sentence it will be compared with."""
        self.embed_groups([(claims, contexts)])

    def embed_groups(self, groups: list[tuple[list[Claim], list[ContextIndex]]], cache_sentences: bool = False) -> None:
        """`embed` for several samples' claims (each group against its own contexts), in one encoder batch.

        A claim found verbatim in its contexts is matched without its vector (`best_match`), so it is not encoded.
        `cache_sentences`: keep the sentences' vectors by text too, for texts that are both a sentence and a claim
        (the answer's sentences and claims when the answer and the reference are compared).
        """
        todo: dict[tuple[int, int], tuple[ContextIndex, int]] = {}
        wanted: list[Claim] = []
        for claims, contexts in groups:
            for claim in claims:
                if claim.embedding is None and not any(claim.verbatim_in(c) for c in contexts):
                    wanted.append(claim)
                for ctx, i in needed_sentences(claim, contexts):
                    todo[(id(ctx), i)] = (ctx, i)
        probes = list(dict.fromkeys(c.probe for c in wanted))
        sentences = [ctx.probes[i] for ctx, i in todo.values()]
        if not probes and not sentences:
            return
        vectors = self.encode(probes + sentences) if cache_sentences else self.encode(probes, sentences)
        by_probe = dict(zip(probes, vectors[: len(probes)], strict=True))
        for claim in wanted:
            claim.embedding = by_probe[claim.probe]
        for (ctx, i), vector in zip(todo.values(), vectors[len(probes):], strict=True):
            ctx.vectors[i] = vector

def build_index(context: str) -> ContextIndex:
    sentences = text.sentences(context) or [context]
    # "It is 330 metres tall" after "The Eiffel Tower was completed in 1889" is matched as naming the
    # tower; the sentence quoted as evidence stays as written.
    probes = [c.resolved for c in claim_texts(sentences, split=False)]
    stems = [frozenset(text.content_stems(s)) for s in probes]
    words = text.words(context)
    return ContextIndex(
        text=context,
        normalised=normalise(context),
        sentences=sentences,
        probes=probes,
        keys=[st | frozenset(text.numbers(s)) for st, s in zip(stems, sentences, strict=True)],
        all_stems=frozenset().union(*stems),
        all_words=frozenset(words),
        bigrams=frozenset(pairwise(words)),
        numbers=frozenset(text.numbers(context)),
        names=frozenset(text.names(context)),
    )
