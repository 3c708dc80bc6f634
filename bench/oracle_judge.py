"""An oracle LLM judge for benches: an OpenAI-compatible server on loopback that answers verify calls from labels.

Every claim of a row labelled hallucinated is "unsupported"; every claim of a row labelled faithful
is "supported", quoting the start of the row's first context. Rows are found by their first context
and the claim's text within their answer. It answers nothing else (no decompose, no embeddings).
"""
from __future__ import annotations

import json
import re

from fastapi import FastAPI, Request

# The scripted judge's server and reply shape; the answers are the oracle's.
from tests.scripted_judge import ScriptedJudge, completion

_CLAIMS = re.compile(r"CLAIMS \(taken from the answer\):\n(.*?)(?:\n\n|$)", re.DOTALL)
_CONTEXT = re.compile(r"CONTEXTS:\n\[1\] (.{0,200})", re.DOTALL)


def _squash(text: str) -> str:
    return " ".join(text.split())


class OracleJudge(ScriptedJudge):
    def __init__(self, rows: list[dict]):
        super().__init__()
        self.by_context: dict[str, list[dict]] = {}
        for row in rows:
            self.by_context.setdefault(_squash(row["retrieved_contexts"][0])[:120], []).append(row)
        self.requests = 0

    def verdict(self, prompt: str, claim: str) -> dict:
        found = _CONTEXT.search(prompt)
        assert found is not None, "a verify prompt lists its contexts"
        context = _squash(found.group(1))[:120]
        rows = self.by_context.get(context, [])
        row = next((r for r in rows if _squash(r["response"]) == claim), None) \
            or next((r for r in rows if claim in _squash(r["response"])), None)
        if row is None:
            raise KeyError(f"no labelled row holds the claim {claim[:80]!r}")
        if row["label_hallucinated"]:
            return {"verdict": "unsupported", "evidence": "", "context": 0, "reason": "labelled hallucinated"}
        quote = " ".join(row["retrieved_contexts"][0].split()[:6])
        return {"verdict": "supported", "evidence": quote, "context": 1, "reason": "labelled faithful"}

    def _app(self) -> FastAPI:  # the oracle's answers instead of the scripted judge's
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests += 1
            prompt = body["messages"][-1]["content"]
            listed = _CLAIMS.search(prompt)
            assert listed is not None, "the oracle answers verify calls only, which list claims"
            claims = [re.sub(r"^\d+\. ", "", line) for line in listed.group(1).splitlines()]
            content = json.dumps({"claims": [self.verdict(prompt, _squash(c)) for c in claims]})
            return completion(body, content)

        return app
