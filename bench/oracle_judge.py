"""An oracle LLM judge for benches: an OpenAI-compatible server on loopback that answers verify calls from labels.

Every claim of a row labelled hallucinated is "unsupported"; every claim of a row labelled faithful
is "supported", quoting the start of the row's first context. Rows are found by their first context
and the claim's text within their answer; asked for per-chunk support, it names the first context for a
supported claim. It answers nothing else (no decompose, no compare, no embeddings).
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time

import uvicorn
from fastapi import FastAPI, Request

_CLAIMS = re.compile(r"CLAIMS \(taken from the answer\):\n(.*?)(?:\n\n|$)", re.DOTALL)
_CONTEXT = re.compile(r"CONTEXTS:\n\[1\] (.{0,200})", re.DOTALL)


def _squash(text: str) -> str:
    return " ".join(text.split())


def completion(body: dict, content: str) -> dict:
    """A chat completion in the OpenAI protocol's shape, with token counts of about four characters each."""
    prompt = sum(len(m["content"]) for m in body["messages"]) // 4
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": len(content) // 4,
                      "total_tokens": prompt + len(content) // 4}}


class OracleJudge:
    def __init__(self, rows: list[dict]):
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.by_context: dict[str, list[dict]] = {}
        for row in rows:
            self.by_context.setdefault(_squash(row["retrieved_contexts"][0])[:120], []).append(row)
        self.requests = 0

    def start(self) -> OracleJudge:
        """Serve on a free loopback port (in a thread); `url` is the base URL for an OpenAI client."""
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        self._server = uvicorn.Server(uvicorn.Config(self._app(), log_level="warning", timeout_graceful_shutdown=1))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

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

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            self.requests += 1
            prompt = body["messages"][-1]["content"]
            listed = _CLAIMS.search(prompt)
            assert listed is not None, "the oracle answers verify calls only, which list claims"
            claims = [re.sub(r"^\d+\. ", "", line) for line in listed.group(1).splitlines()]
            verdicts = [self.verdict(prompt, _squash(c)) for c in claims]
            if '"supported_by"' in prompt:
                verdicts = [{**v, "supported_by": [1] if v["verdict"] == "supported" else []} for v in verdicts]
            content = json.dumps({"claims": verdicts})
            return completion(body, content)

        return app
