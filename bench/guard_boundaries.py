"""When the streaming guard can call a sentence complete: tokens it waits past the sentence's last one.

    python bench/guard_boundaries.py [--data rag_bench_100.jsonl ...] [--rows 400] [--slowest 8]

Feeds each answer a token at a time (as bench/guard_latency.py streams it) to the guard's SentenceBuffer and
counts, per sentence, the tokens that arrived after the one carrying its last character before it was handed
out (at `end` for the last sentence: the tokens left). Each such token is one token gap (20 ms in the latency
bench) that the client's latency has and the server's `latency_ms` does not. Also prints how many answers are
split exactly as the whole-answer judge splits them. No server, no judge: text only.
"""
from __future__ import annotations

import argparse
import collections
import json
import re
from pathlib import Path

from ragmeter.metrics.judges.embedded import text
from ragmeter.metrics.streaming import SentenceBuffer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TOKEN = re.compile(r"\s*[\w']+|\s*[^\w\s]")


def waits(answer: str) -> tuple[list[tuple[int, str]], bool]:
    """Each streamed sentence's wait in tokens (with its text), and whether the split is the whole answer's."""
    tokens = TOKEN.findall(answer)
    ends, chars = [], 0
    for token in tokens:
        chars += len(token)
        ends.append(chars)
    buffer, out = SentenceBuffer(), []
    for fed, token in enumerate(tokens):
        out += [(fed, s) for s in buffer.feed(token)]
    out += [(len(tokens), s) for s in buffer.finish()]
    found = [(fed - next(k for k, end in enumerate(ends) if end >= s.end), s.text) for fed, s in out]
    return found, [s.text for _, s in out] == text.sentences(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["rag_bench_100.jsonl", "qags_cnndm_summaries.jsonl",
                                                      "halueval_summarization_dev.jsonl"])
    parser.add_argument("--rows", type=int, default=400, help="answers per data set (the first ones)")
    parser.add_argument("--slowest", type=int, default=5, help="sentences with the longest waits to print")
    args = parser.parse_args()
    for name in args.data:
        rows = [json.loads(line) for line in (DATA / name).read_text().splitlines()[:args.rows]]
        every: list[tuple[int, str]] = []
        same = 0
        for row in rows:
            found, alike = waits(row["response"])
            every += found
            same += alike
        counts = collections.Counter(w for w, _ in every)
        print(f"{name}: {len(rows)} answers ({same} split as the whole answer), {len(every)} sentences; tokens "
              f"waited: " + ", ".join(f"{w}: {n}" for w, n in sorted(counts.items())))
        for wait, sentence in sorted(every, key=lambda x: -x[0])[:args.slowest]:
            print(f"  {wait:3d} tokens  ...{sentence[-60:]!r}")


if __name__ == "__main__":
    main()
