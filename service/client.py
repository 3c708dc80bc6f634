"""A small Python client of the ragmeter service, for the CLI and for users' scripts.

    from ragmeter.service.client import RagmeterClient
    with RagmeterClient("http://127.0.0.1:8000") as client:
        batch = client.upload("eval.csv")
        client.wait(batch["id"])
        Path("scored.parquet").write_bytes(client.results(batch["id"], "parquet"))
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx


class RagmeterError(RuntimeError):
    """The service refused a request; the message carries its detail."""


class RagmeterClient:
    def __init__(self, base_url: str, timeout: float = 120.0, api_key: str | None = None):
        """`api_key` defaults to RAGMETER_API_KEY, for services that require keys."""
        api_key = api_key or os.environ.get("RAGMETER_API_KEY")
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                 headers={"X-API-Key": api_key} if api_key else None)

    def __enter__(self) -> RagmeterClient:
        return self

    def __exit__(self, *exc) -> None:
        self.http.close()

    def evaluate(self, samples: list[dict], metrics: list[str] | None = None, gate: dict | None = None) -> dict:
        """POST /v1/evaluate: scores, gate and evidence for up to a few dozen samples."""
        return self._json(self.http.post("/v1/evaluate", json={"samples": samples, "metrics": metrics,
                                                                "gate": gate}))

    def upload(self, path: str | Path, metrics: list[str] | None = None, gate: dict | None = None,
               mapping: dict | None = None, separator: str | None = None) -> dict:
        """POST /v1/batches: start a batch job from a CSV, JSONL, JSON or Parquet file."""
        path = Path(path)
        form = {"metrics": ",".join(metrics) if metrics else None, "gate": json.dumps(gate) if gate else None,
                "mapping": json.dumps(mapping) if mapping else None, "separator": separator}
        with path.open("rb") as handle:
            response = self.http.post("/v1/batches", files={"file": (path.name, handle)},
                                      data={k: v for k, v in form.items() if v is not None})
        return self._json(response)

    def status(self, batch_id: str) -> dict:
        return self._json(self.http.get(f"/v1/batches/{batch_id}"))

    def wait(self, batch_id: str, poll_s: float = 1.0, on_progress: Callable[[dict], None] | None = None) -> dict:
        """Poll until the batch is no longer queued or running; returns its last status."""
        while True:
            status = self.status(batch_id)
            if on_progress:
                on_progress(status)
            if status["status"] not in ("queued", "running"):
                return status
            time.sleep(poll_s)

    def cancel(self, batch_id: str) -> dict:
        """DELETE /v1/batches/{id}: cancel a queued or running batch; its status."""
        return self._json(self.http.delete(f"/v1/batches/{batch_id}"))

    def delete(self, batch_id: str) -> dict:
        """Delete a finished batch with its rows and results (DELETE ...?purge=true); 409 while it runs."""
        return self._json(self.http.delete(f"/v1/batches/{batch_id}", params={"purge": "true"}))

    def results(self, batch_id: str, fmt: str = "jsonl") -> bytes:
        response = self.http.get(f"/v1/batches/{batch_id}/results", params={"format": fmt})
        self._check(response)
        return response.content

    def summary(self, batch_id: str) -> dict:
        return self._json(self.http.get(f"/v1/batches/{batch_id}/summary"))

    def compare(self, baseline: str | Path, candidate: str | Path, **options) -> dict:
        """POST /v1/comparisons: two batch ids, or two scored files (paths that exist) uploaded."""
        if Path(baseline).is_file() and Path(candidate).is_file():
            form = {k: ",".join(v) if isinstance(v, list) else str(v) for k, v in options.items() if v is not None}
            with Path(baseline).open("rb") as a, Path(candidate).open("rb") as b:
                return self._json(self.http.post("/v1/comparisons", data=form, files={
                    "baseline_file": (Path(baseline).name, a), "candidate_file": (Path(candidate).name, b)}))
        body = {"baseline": str(baseline), "candidate": str(candidate)}
        return self._json(self.http.post("/v1/comparisons",
                                         json=body | {k: v for k, v in options.items() if v is not None}))

    def _json(self, response: httpx.Response) -> dict:
        self._check(response)
        return response.json()

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.is_error:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise RagmeterError(f"{response.request.method} {response.request.url.path}: "
                                f"HTTP {response.status_code}: {json.dumps(detail)[:2000]}")
