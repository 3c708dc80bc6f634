"""Ten hand-written answers streamed to a running service's /v1/guard, with what it says of each sentence.

    python bench/guard_cases.py [--url ws://127.0.0.1:8000/v1/guard]

Contexts on the Eiffel Tower, Paris and a song; answers a user would write: faithful, an added "not", a changed
or invented number, a stray quotation mark, a rewording, an abbreviation, a quoted passage, a numbered list, a
refusal. Prints each sentence's verdict and claim probabilities, a stop, and the final gate. For reading, not
for asserting: tests/test_guard.py holds the assertions.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import re

from websockets.asyncio.client import connect

CTX = ["The Eiffel Tower was completed in March 1889 for the World's Fair. It is 330 metres tall and was designed "
       "by Gustave Eiffel's company.",
       "Paris is the capital of France. The Louvre holds the Mona Lisa.",
       'Nancy Sinatra recorded "These Boots Are Made for Walkin\'" in 1966. Lee Hazlewood wrote the song.']
Q = "Tell me about the Eiffel Tower."
CASES = [
 "The Eiffel Tower was completed in March 1889. It is 330 metres tall.",
 "The Eiffel Tower was not completed in 1889. It is 330 metres tall.",
 "The Eiffel Tower is 450 metres tall. It was completed in March 1889.",
 '"These Boots Are Made for Walkin\' was recorded by Nancy Sinatra in 1966. Lee Hazlewood wrote the song. '
 'The Eiffel Tower is 330 metres tall.',
 "Construction of the tower finished in 1889. It stands 330 metres high.",
 "Dr. Smith says the tower is 330 metres tall. It was completed in March 1889.",
 "The tower is 330.5 metres tall.",
 'The sign said "Stop. Go home." and the tower is 330 metres tall.',
 "Facts:\n1. The tower is 330 metres tall.\n2. It was designed by Gustave Eiffel's company.",
 "I don't know.",
]
TOK = re.compile(r"\s*[\w']+|\s*[^\w\s]")


async def one(url: str, answer: str) -> list[str]:
    async with connect(url, proxy=None) as ws:
        await ws.send(json.dumps({"type": "start", "question": Q, "contexts": CTX}))
        for token in TOK.findall(answer):
            await ws.send(json.dumps({"type": "delta", "text": token}))
        await ws.send('{"type": "end"}')
        out = []
        async for raw in ws:
            m = json.loads(raw)
            if m["type"] == "sentence":
                out.append(f"  [{m['verdict']}] {m['text']!r} "
                           + "; ".join(f"p={c['probability']:.2f}" for c in m["claims"]))
            elif m["type"] == "stop":
                out.append(f"  STOP at {m['index']}: {m['reason'][:90]}")
            elif m["type"] in ("final", "error"):
                out.append(f"  final: passed={m['gate']['passed']} faithfulness={m['scores']['faithfulness']}"
                           if m["type"] == "final" else f"  error: {m}")
                break
        return out


async def main(url: str) -> None:
    for answer in CASES:
        print(repr(answer))
        print("\n".join(await one(url, answer)))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/v1/guard")
    asyncio.run(main(parser.parse_args().url))
