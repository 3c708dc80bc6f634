"""A circuit breaker for a remote judge: after repeated failures, fail fast for a while instead of waiting on it.

Closed: calls go through. After `failures` failures in a row it opens for `cooldown_s`: calls fail at
once with kind `circuit_open`. Then one call may try (half-open); success closes it, failure reopens.
"""
from __future__ import annotations

import time

from ..judgements import JudgeError

# Failures that say the judge itself is unwell; a bad reply (invalid_output) says nothing about that.
TRIPPING_KINDS = frozenset({"timeout", "unreachable", "rate_limited"})


class CircuitBreaker:
    def __init__(self, failures: int = 5, cooldown_s: float = 30.0, clock=time.monotonic):
        self.failures, self.cooldown_s, self.clock = failures, cooldown_s, clock
        self.in_a_row = 0
        self.opened_at: float | None = None
        self.last_error = ""

    def open_for(self) -> float:
        """Seconds until a call may try again; 0 when calls go through."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.opened_at + self.cooldown_s - self.clock())

    def check(self, stage: str) -> None:
        """Raise `circuit_open` while the breaker is open."""
        if (wait := self.open_for()) > 0:
            raise JudgeError(stage, "circuit_open", f"the judge failed {self.in_a_row} times in a row "
                                                    f"({self.last_error}); calls resume in {wait:.0f} s")

    def succeeded(self) -> None:
        self.in_a_row, self.opened_at = 0, None

    def failed(self, error: JudgeError) -> None:
        if error.info.kind not in TRIPPING_KINDS and not error.info.kind.startswith("http_5"):
            return
        self.in_a_row += 1
        self.last_error = f"{error.info.kind}: {error.info.message[:120]}"
        if self.in_a_row >= self.failures:
            self.opened_at = self.clock()
