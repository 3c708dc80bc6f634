"""The streaming guard on a fake OpenAI-style answer stream (no API key, no network beyond ragmeter).

Start the service (`ragmeter serve`, embedded judge), then run `python examples/guard_example.py`. The answer's
third sentence is invented (the contexts give no opening year for the spa); the guard lets the first two sentences
through and stops at the third. Options: --url, --api-key (or RAGMETER_API_KEY), --delay (seconds per token).
Exits 0 when every sentence passed, 1 when the guard stopped the answer, 2 when the guard could not be used.
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Iterator
from types import SimpleNamespace

from ragmeter.service.guard_client import GuardError, guard

QUESTION = "Where is the head office of the Oberoi Group, and when was it founded?"
CONTEXTS = [
    "The Oberoi Group is a hotel company with its head office in Delhi. It was founded in 1934 by Mohan Singh "
    "Oberoi. The group operates 31 luxury hotels and two river cruise ships in seven countries.",
    "Oberoi hotels are known for their spas, which offer Ayurvedic treatments.",
]
ANSWER = ("The Oberoi Group has its head office in Delhi. It was founded in 1934 by Mohan Singh Oberoi. "
          "Its first spa opened in Paris in 1962 with 240 rooms. The group operates 31 luxury hotels.")


def fake_openai_stream(answer: str, delay: float) -> Iterator[SimpleNamespace]:
    """Chunks shaped like the OpenAI SDK's ChatCompletionChunk: choices[0].delta.content, a token at a time."""
    for token in re.findall(r"\s*[\w']+|\s*[^\w\s]", answer):
        time.sleep(delay)  # as a model would generate them
        yield SimpleNamespace(choices=[SimpleNamespace(delta=SimpleNamespace(content=token))])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=os.environ.get("RAGMETER_API_KEY"))
    parser.add_argument("--delay", type=float, default=0.02)
    args = parser.parse_args()

    guarded = guard(fake_openai_stream(ANSWER, args.delay), QUESTION, CONTEXTS, url=args.url, api_key=args.api_key)
    try:
        for text in guarded:  # the one line an app adds: iterate the guarded stream instead of the raw one
            print(text, end="", flush=True)
    except (GuardError, OSError) as exc:  # a wrong key, a refused start, no service at --url
        print(f"\nthe guard at {args.url} could not be used: {exc}", file=sys.stderr)
        return 2
    print()
    if guarded.stopped:
        failing = guarded.sentences[guarded.stopped["index"]]
        print(f"[stopped at sentence {failing['index'] + 1}, {failing['verdict']}: {failing['text']!r}]")
        return 1
    print("[every sentence supported]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
