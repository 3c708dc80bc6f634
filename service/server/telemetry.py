"""Prometheus metrics of the service: HTTP requests, judge calls and tokens, errors, gate verdicts, batch rows.

One registry per app, so several apps in one process (tests) do not share counters.
"""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from ragmeter.metrics import SampleResult


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ragmeter_http_requests_total", "HTTP requests by route and status.",
                                ["method", "route", "status"], registry=r)
        self.latency = Histogram("ragmeter_http_request_seconds", "HTTP request latency by route.",
                                 ["method", "route"], registry=r,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.samples = Counter("ragmeter_samples_scored_total", "Samples scored, by where they came from.",
                               ["source"], registry=r)
        self.judge_calls = Counter("ragmeter_judge_calls_total",
                                   "Judge calls: chat, embedding, or answered from cache.", ["kind"], registry=r)
        self.judge_tokens = Counter("ragmeter_judge_tokens_total", "Judge tokens: prompt, completion, embedding.",
                                    ["kind"], registry=r)
        self.judge_errors = Counter("ragmeter_judge_errors_total",
                                    "Judge failures and invalid values by stage and kind.", ["stage", "kind"],
                                    registry=r)
        self.gate = Counter("ragmeter_gate_verdicts_total", "Hallucination gate verdicts.", ["verdict"], registry=r)
        self.guard_stage = Histogram(
            "ragmeter_guard_stage_seconds", "Streaming guard, per sentence: waiting for the judge (queued), judging "
            "(judged, its batch's run), and from complete to verdict sent (total).", ["stage"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.batch_rows = Counter("ragmeter_batch_rows_total", "Batch rows finished, by status.", ["status"],
                                  registry=r)

    def record(self, result: SampleResult, source: str) -> None:
        """Count one scored sample: its judge cost, errors and gate verdict."""
        usage = result.usage
        self.samples.labels(source).inc()
        for kind, n in (("chat", usage.chat_calls), ("embedding", usage.embedding_calls),
                        ("cached", usage.cached_calls)):
            self.judge_calls.labels(kind).inc(n)
        for kind, n in (("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens),
                        ("embedding", usage.embedding_tokens)):
            self.judge_tokens.labels(kind).inc(n)
        for error in result.errors:
            self.judge_errors.labels(error.stage, error.kind).inc()
        self.gate.labels("pass" if result.gate.passed else "fail").inc()
