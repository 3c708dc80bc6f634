"""Per-tenant limits: requests per second (token bucket), samples per day, batch rows and records not yet scored;
429 and Retry-After.

Requests and samples are counted in this process (several replicas each count their own share); rows in flight
are counted in the store.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import HTTPException

DAY_S = 86_400.0


@dataclass
class _Bucket:
    tokens: float
    updated: float
    day_start: float
    samples_today: int = 0


@dataclass
class Quota:
    requests_per_s: float = 0.0  # 0: no limit
    samples_per_day: int = 0  # 0: no limit
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def _bucket(self, tenant: str) -> _Bucket:
        now = self.clock()
        bucket = self._buckets.setdefault(tenant, _Bucket(tokens=max(1.0, self.requests_per_s), updated=now,
                                                          day_start=now))
        if now - bucket.day_start >= DAY_S:
            bucket.day_start, bucket.samples_today = now, 0
        return bucket

    def request(self, tenant: str) -> None:
        """Take one request from the tenant's bucket; 429 when it is empty."""
        if not self.requests_per_s:
            return
        bucket, now = self._bucket(tenant), self.clock()
        burst = max(1.0, self.requests_per_s)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * self.requests_per_s)
        bucket.updated = now
        if bucket.tokens < 1.0:
            wait = (1.0 - bucket.tokens) / self.requests_per_s
            raise HTTPException(429, f"more than {self.requests_per_s:g} requests/s for this key",
                                headers={"Retry-After": str(max(1, round(wait + 0.5)))})
        bucket.tokens -= 1.0

    def samples(self, tenant: str, n: int, check: bool = True) -> None:
        """Count n samples against the tenant's daily quota; 429 (nothing counted) when they do not fit."""
        if not self.samples_per_day:
            return
        bucket = self._bucket(tenant)
        if check and bucket.samples_today + n > self.samples_per_day:
            wait = DAY_S - (self.clock() - bucket.day_start)
            raise HTTPException(429, f"{n} samples would exceed this key's quota of {self.samples_per_day} a day "
                                     f"({bucket.samples_today} used)", headers={"Retry-After": str(round(wait))})
        bucket.samples_today += n

    def samples_left(self, tenant: str) -> int | None:
        """Samples the tenant may still send today; None without a daily quota."""
        return max(0, self.samples_per_day - self._bucket(tenant).samples_today) if self.samples_per_day else None


@dataclass(frozen=True)
class Backlog:
    """A per-key limit on work not yet scored, in the words its 413 and 429 use."""

    setting: str  # the environment variable that sets the limit
    unit: str  # what is counted: "batch rows", "records"
    advice: str  # what to do when a request can never fit


PENDING_ROWS = Backlog("RAGMETER_MAX_PENDING_ROWS", "batch rows", "split the file")
RECORD_BACKLOG = Backlog("RAGMETER_RECORD_MAX_BACKLOG", "records", "send fewer per request")


def check_backlog(backlog: Backlog, limit: int, pending: int, n: int, rate_per_s: float | None) -> None:
    """413 when n more can never fit under the limit (0: none), 429 until enough of the pending ones are scored."""
    if not limit or pending + n <= limit:
        return
    if n > limit:
        raise HTTPException(413, f"{n} {backlog.unit} is more than this key's limit of {limit} {backlog.unit} not "
                                 f"yet scored ({backlog.setting}); {backlog.advice}")
    # Retry-After: how long scoring takes to make room at the recent rate (a minute when nothing was scored yet).
    wait = (pending + n - limit) / rate_per_s if rate_per_s else 60.0
    raise HTTPException(429, f"{n} more {backlog.unit} would exceed this key's limit of {limit} {backlog.unit} not "
                             f"yet scored ({pending} pending; {backlog.setting}); retry later",
                        headers={"Retry-After": str(max(1, min(3600, round(wait))))})
