"""Size limits on one sample, the same for /v1/evaluate and for every row of a batch upload."""
from __future__ import annotations

from dataclasses import dataclass

from ragmeter.metrics import Sample

from ragmeter.service.metadata import limit_problems as metadata_limits
from ragmeter.service.settings import Settings


@dataclass(frozen=True)
class LimitProblem:
    field: tuple[str | int, ...]  # e.g. ("retrieved_contexts", 3)
    kind: str  # FastAPI's error types: string_too_long, too_long
    message: str


def limit_problems(sample: Sample, settings: Settings) -> list[LimitProblem]:
    """What in the sample exceeds RAGMETER_MAX_FIELD_CHARS, _MAX_CONTEXTS or _MAX_CONTEXT_CHARS."""
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
    return problems
