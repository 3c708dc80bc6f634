"""The embedded judge's cross-encoder: P(the evidence passage supports the claim), read as one text.

The sentence encoder compares a claim and a sentence as two separate vectors, which cannot see
that "Delta acquired Orion" and "Orion acquired Delta" differ, or that a reworded sentence says the
same thing. This model reads claim and passage together (all-MiniLM-L6-v2 fine-tuned by
`bench/train_entailment.py`, int8 ONNX in assets/, no torch at run time).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .encoder import _batches, cpu_session, default_tokenizer_path

MODEL_FILE = Path(__file__).resolve().parent / "assets" / "entailment_int8.onnx"
MAX_TOKENS = 160  # claim plus a passage of three sentences; longer passages lose their tail
TOKEN_BUDGET = 4096
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass
class EntailmentModel:
    """Scores (claim, passage) pairs in length-sorted batches on onnxruntime."""

    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    batch_size: int = 32

    @classmethod
    def load(cls, model_path: str | Path | None = None, threads: int | None = None) -> EntailmentModel:
        """Build the session and the pair tokenizer; nothing is downloaded."""
        from tokenizers import Tokenizer

        session = cpu_session(model_path or MODEL_FILE, threads)
        if {i.name for i in session.get_inputs()} != set(_INPUTS):
            raise ValueError(f"unexpected ONNX inputs {[i.name for i in session.get_inputs()]}")
        tokenizer = Tokenizer.from_file(str(default_tokenizer_path()))
        tokenizer.no_padding()
        # The claim is kept whole; the passage is cut, as in training (truncation="only_second").
        tokenizer.enable_truncation(max_length=MAX_TOKENS, strategy="only_second")
        return cls(session=session, tokenizer=tokenizer)

    def probabilities(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """P(supported) for each (claim, passage) pair, in order."""
        out = np.zeros(len(pairs), dtype=np.float64)
        if not pairs:
            return out
        encodings = self.tokenizer.encode_batch([(c, p) for c, p in pairs])
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(-lengths, kind="stable")
        for idx in _batches(order, lengths, self.batch_size, TOKEN_BUDGET):
            width = int(lengths[idx].max())
            feeds = {name: np.zeros((len(idx), width), dtype=np.int64) for name in _INPUTS}
            for row, i in enumerate(idx):
                n = int(lengths[i])
                feeds["input_ids"][row, :n] = encodings[i].ids
                feeds["attention_mask"][row, :n] = 1
                feeds["token_type_ids"][row, :n] = encodings[i].type_ids
            out[idx] = self.session.run(None, feeds)[0].reshape(-1)
        return out
