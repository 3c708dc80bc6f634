"""Benchmark the offline MiniLM encoder: cold load time and sentences/second, for the integer and the float one.

Usage: python bench/encoder_bench.py [--data PATH/rag_bench_100.jsonl] [--repeats N]

The integer encoder (the default) runs one text per run, a run per core at once, so batch sizes do not apply to
it; the float one is timed at batch sizes 16, 32 and 64.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

# Taken before numpy/onnxruntime/tokenizers are imported, so "cold load" includes those imports.
_T0 = time.perf_counter()
REPO = Path(__file__).resolve().parents[1]
# shared/ sits beside the repo both on developer machines and in CI.
DEFAULT_DATA = REPO.parent / "shared" / "data" / "rag_bench_100.jsonl"
_SENT_SPLIT = re.compile(r"(?<=[.!?])\s+")


def load_sentences(path: Path) -> list[str]:
    """Every sentence of every retrieved context, split with a naive punctuation regex."""
    out: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            for ctx in json.loads(line).get("retrieved_contexts", []):
                out.extend(s.strip() for s in _SENT_SPLIT.split(ctx) if s.strip())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per batch size; the best is reported")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))  # run as a plain script from anywhere
    from ragmeter.metrics.judges.embedded.encoder import Encoder

    enc = Encoder.load(quantized=True)
    enc.encode(["cold start"])
    cold = time.perf_counter() - _T0
    print(f"cold load (import -> first encode): {cold:.3f} s ({enc.label})")

    sentences = load_sentences(args.data)
    n_tokens = sum(len(e.ids) for e in enc.tokenizer.encode_batch(sentences))
    print(f"{len(sentences)} sentences, {n_tokens} tokens, from {args.data.name}")
    for label, encoder, sizes in ((enc.label, enc, (None,)),
                                  (Encoder.load(quantized=False).label, Encoder.load(quantized=False), (16, 32, 64))):
        encoder.encode(sentences[:64])  # warm-up: first runs allocate arenas per shape
        for bs in sizes:
            best = float("inf")
            for _ in range(max(1, args.repeats)):
                t = time.perf_counter()
                encoder.encode(sentences, batch_size=bs)
                best = min(best, time.perf_counter() - t)
            how = f"batch {bs}" if bs else f"a text per run, {encoder.cores} at once"
            print(f"{label}, {how}: {len(sentences) / best:8.1f} sentences/s  ({best:.2f} s for all)")

if __name__ == "__main__":
    main()
