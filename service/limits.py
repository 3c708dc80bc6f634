"""Size limits on one sample, the same for /v1/evaluate and for every row of a batch upload."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ragmeter.metrics import Sample

from ragmeter.service.metadata import limit_problems as metadata_limits
from ragmeter.service.settings import Settings


@dataclass(frozen=True)
class LimitProblem:
    field: tuple[str | int, ...]  # e.g. ("retrieved_contexts", 3)
    kind: str  # FastAPI's error types: string_too_long, too_long
    message: str


@dataclass(frozen=True)
class Budget:
    """The most characters one sample may hold, and what sets that number (named in the refusal)."""

    chars: int
    source: str

    @classmethod
    def of(cls, settings: Settings, judge: Any = None) -> Budget:
        """RAGMETER_MAX_SAMPLE_CHARS, or the judge's own `max_sample_chars` when that is smaller."""
        cap = getattr(judge, "max_sample_chars", None)
        if isinstance(cap, int) and cap < settings.max_sample_chars:
            return cls(cap, f"the {judge.info.name} judge's own cap of {cap} (RAGMETER_MAX_SAMPLE_CHARS="
                            f"{settings.max_sample_chars} is higher)")
        return cls(settings.max_sample_chars, f"RAGMETER_MAX_SAMPLE_CHARS={settings.max_sample_chars}")

    def problem(self, sample: Sample) -> LimitProblem | None:
        """Why the sample is over budget, or None."""
        used = sample_chars(sample)
        if used <= self.chars:
            return None
        return LimitProblem((), "too_long", f"the sample holds {used} characters (question, answer, reference and "
                                            f"{len(sample.retrieved_contexts)} contexts together), more than "
                                            f"{self.source}; send fewer or shorter contexts")


def sample_chars(sample: Sample) -> int:
    """What a sample costs to score: its characters, all contexts included."""
    fields = (sample.user_input, sample.response, sample.reference or "")
    return sum(map(len, fields)) + sum(map(len, sample.retrieved_contexts))


def limit_problems(sample: Sample, settings: Settings, budget: Budget | None = None) -> list[LimitProblem]:
    """What in the sample exceeds RAGMETER_MAX_FIELD_CHARS, _MAX_CONTEXTS, _MAX_CONTEXT_CHARS or the sample budget."""
    problems = []
    for field in ("user_input", "response", "reference"):
        value = getattr(sample, field)
        if value is not None and len(value) > settings.max_field_chars:
            problems.append(LimitProblem((field,), "string_too_long", f"{len(value)} characters is more than "
                                         f"RAGMETER_MAX_FIELD_CHARS={settings.max_field_chars}"))
    contexts = sample.retrieved_contexts
    if len(contexts) > settings.max_contexts:
        problems.append(LimitProblem(("retrieved_contexts",), "too_long", f"{len(contexts)} contexts is more than "
                                     f"RAGMETER_MAX_CONTEXTS={settings.max_contexts}"))
    for j, context in enumerate(contexts):
        if len(context) > settings.max_context_chars:
            problems.append(LimitProblem(("retrieved_contexts", j), "string_too_long",
                                         f"{len(context)} characters is more than "
                                         f"RAGMETER_MAX_CONTEXT_CHARS={settings.max_context_chars}"))
    problems += [LimitProblem(path, "too_long", message) for path, message in
                 metadata_limits(sample.metadata, settings.max_metadata_keys, settings.max_metadata_chars)]
    if not problems and (over := (budget or Budget.of(settings)).problem(sample)):  # one reason at a time
        problems.append(over)
    return problems
