"""A scripted judge on loopback that speaks the OpenAI HTTP protocol, for end-to-end tests.

By default it answers like a literal-minded judge: claims are the answer's sentences, a claim
is supported when it appears word for word in a context, generated questions repeat the
question. Tests queue faults (HTTP errors, malformed JSON, hangs) for the next chat calls.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Self

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

REFUSALS = ("i don't know", "i do not know", "cannot answer", "no information")


@dataclass
class Fault:
    kind: str  # "pass", "status", "malformed", "hang", "wrong_count", "out_of_range" (context numbers 0 and 99)
    status: int = 500
    headers: dict = field(default_factory=dict)


class ScriptedJudge:
    def __init__(self, latency_s: float = 0.0):
        self.latency_s = latency_s
        self.faults: list[Fault] = []
        self.reject_formats: set[str] = set()  # response_format types answered with HTTP 500, as llama.cpp does
        self.chat_requests: list[dict] = []
        self.embedding_requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # ------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
        config = uvicorn.Config(self._app(), log_level="warning", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)

    def push(self, *faults: Fault) -> None:
        self.faults.extend(faults)

    def reset(self) -> None:
        self.reject_formats.clear()
        self.chat_requests.clear()
        self.embedding_requests.clear()
        self.max_in_flight = 0

    # ------------------------------------------------------------ HTTP
    def _app(self) -> FastAPI:
        app = FastAPI()
        judge = self

        @app.get("/v1/models")
        async def models():
            return {"object": "list", "data": [{"id": "scripted", "object": "model", "created": 0, "owned_by": "t"}]}

        @app.post("/v1/chat/completions")
        async def chat(request: Request):
            body = await request.json()
            judge.chat_requests.append(body)
            if (body.get("response_format") or {}).get("type") in judge.reject_formats:
                return JSONResponse({"error": {"message": "Unsupported param: response_format "
                                                          f"{body['response_format']['type']}", "type": "x"}},
                                    status_code=500)
            fault = judge.faults.pop(0) if judge.faults else None
            if fault and fault.kind == "hang":
                await asyncio.Event().wait()  # never answers; the client's timeout ends it
            judge.in_flight += 1
            judge.max_in_flight = max(judge.max_in_flight, judge.in_flight)
            try:
                if judge.latency_s:
                    await asyncio.sleep(judge.latency_s)
                if fault and fault.kind == "status":
                    return JSONResponse({"error": {"message": f"scripted {fault.status}", "type": "x"}},
                                        status_code=fault.status, headers=fault.headers)
                content = json.dumps(answer(body))
                if fault and fault.kind == "malformed":
                    content = content[: len(content) // 2]
                if fault and fault.kind == "wrong_count":
                    data = json.loads(content)
                    for key in ("claims", "statements", "contexts"):
                        if data.get(key):
                            data[key] = data[key][:-1]
                    content = json.dumps(data)
                if fault and fault.kind == "out_of_range":
                    data = json.loads(content)
                    for item in data.get("claims", []) + data.get("statements", []):
                        item["supported_by"] = [0, *item.get("supported_by", []), 99]
                    content = json.dumps(data)
                return completion(body, content)
            finally:
                judge.in_flight -= 1

        @app.post("/v1/embeddings")
        async def embeddings(request: Request):
            body = await request.json()
            judge.embedding_requests.append(body)
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            return {"object": "list", "model": body["model"],
                    "data": [{"object": "embedding", "index": i, "embedding": bag_of_words(t)}
                             for i, t in enumerate(inputs)],
                    "usage": {"prompt_tokens": sum(len(t) // 4 for t in inputs), "total_tokens": 0}}

        return app


def completion(body: dict, content: str) -> dict:
    prompt = sum(len(m["content"]) for m in body["messages"]) // 4
    return {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": len(content) // 4,
                      "total_tokens": prompt + len(content) // 4}}


def bag_of_words(text: str, dim: int = 64) -> list[float]:
    vector = [0.0] * dim
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return vector


# ---------------------------------------------------------------- a literal judge
def answer(body: dict) -> dict:
    # The task is in the first user message; a repair turn only follows it.
    prompt = next(m["content"] for m in body["messages"] if m["role"] == "user")
    if "CONTEXTS:" in prompt:
        return _verify(prompt)
    if '"stated"' in prompt:
        return _compare(prompt)
    return _decompose(prompt)


def _section(prompt: str, title: str) -> str | None:
    match = re.search(rf"^{re.escape(title)}:?\n(.*?)(?:\n\n[A-Z][A-Z ()a-z]+:|\n\nReply with)", prompt,
                      re.S | re.M)
    return match.group(1).strip() if match else None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _decompose(prompt: str) -> dict:
    question = _section(prompt, "QUESTION")
    answer_text = _section(prompt, "ANSWER") or ""
    refusal = any(r in answer_text.lower() for r in REFUSALS)
    data: dict = {}
    if '"claims"' in prompt:
        data["claims"] = [] if refusal else _sentences(answer_text)
    if '"questions"' in prompt:
        asked = re.search(r"list of exactly (\d+)", prompt)
        assert asked is not None, "a decompose prompt that asks for questions says how many"
        n = int(asked.group(1))
        data["noncommittal"] = refusal
        data["questions"] = [question] * n
    if '"statements"' in prompt:
        data["statements"] = _sentences(_section(prompt, "REFERENCE") or "")
    return data


def _numbered(block: str | None, pattern: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(pattern, block or "", re.M)]


def _verify(prompt: str) -> dict:
    contexts = _numbered(_section(prompt, "CONTEXTS"), r"^\[\d+\] (.*)$")
    claims = _numbered(_section(prompt, "CLAIMS (taken from the answer)"), r"^\d+\. (.*)$")
    statements = _numbered(_section(prompt, "REFERENCE STATEMENTS"), r"^\d+\. (.*)$")

    def check(text: str) -> tuple[bool, str, int]:
        needle = text.rstrip(".").lower()
        for i, context in enumerate(contexts, start=1):
            if needle in context.lower():
                return True, text.rstrip("."), i
        return False, "", 0

    def every(text: str) -> dict:
        # Per-chunk support, only when the prompt asks for it: every context holding the text word for word.
        if '"supported_by"' not in prompt:
            return {}
        needle = text.rstrip(".").lower()
        return {"supported_by": [i for i, c in enumerate(contexts, start=1) if needle in c.lower()]}

    data: dict = {}
    if claims:
        data["claims"] = []
        for claim in claims:
            ok, quote, n = check(claim)
            data["claims"].append({"verdict": "supported" if ok else "unsupported", "evidence": quote,
                                   "context": n, "reason": "stated in the context" if ok else "not stated",
                                   **every(claim)})
    if statements:
        data["statements"] = []
        for statement in statements:
            ok, quote, n = check(statement)
            data["statements"].append({"attributable": ok, "evidence": quote, "context": n,
                                       "reason": "stated in the context" if ok else "not stated", **every(statement)})
    if '"contexts"' in prompt:
        whole = _section(prompt, "REFERENCE ANSWER") or _section(prompt, "ANSWER") or ""
        targets = [t.rstrip(".").lower() for t in statements or claims or _sentences(whole)]
        useful = [any(t in c.lower() for t in targets) for c in contexts]
        data["contexts"] = [{"useful": u, "reason": "states the facts needed" if u else "unrelated to them"}
                            for u in useful]
    return data


def _compare(prompt: str) -> dict:
    """Answer claims found word for word in the reference, reference statements found word for word in the answer."""
    answer_text = (_section(prompt, "ANSWER") or "").lower()
    reference = (_section(prompt, "REFERENCE") or "").lower()
    data: dict = {}
    for key, title, other in (("claims", "ANSWER CLAIMS", reference), ("statements", "REFERENCE STATEMENTS",
                                                                        answer_text)):
        items = _numbered(_section(prompt, title), r"^\d+\. (.*)$")
        if items:
            data[key] = [{"stated": item.rstrip(".").lower() in other, "evidence": "", "reason": "compared as written"}
                         for item in items]
    return data


if __name__ == "__main__":  # python -m tests.scripted_judge PORT: run it by hand, e.g. for README examples
    import sys

    judge = ScriptedJudge()
    uvicorn.run(judge._app(), host="127.0.0.1", port=int(sys.argv[1]) if len(sys.argv) > 1 else 8012)
