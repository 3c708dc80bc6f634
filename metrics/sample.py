"""The sample a user sends: one question / contexts / answer triple, under the Ragas or the classic names."""
from __future__ import annotations

import math
import re
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

_SURROGATE = re.compile("[\ud800-\udfff]")


class Sample(BaseModel):
    """One question / contexts / answer triple, under the Ragas or the classic field names."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", str_strip_whitespace=False)

    id: str | int | None = Field(default=None, description="Your identifier, echoed back in the result.")
    user_input: str = Field(
        validation_alias=AliasChoices("user_input", "question"),
        description="The question asked (alias: question).",
    )
    retrieved_contexts: list[str] = Field(
        default_factory=list,
        validation_alias=AliasChoices("retrieved_contexts", "contexts"),
        description="Retrieved passages, in retrieval order (alias: contexts).",
    )
    response: str = Field(
        validation_alias=AliasChoices("response", "answer"),
        description="The answer to score (alias: answer).",
    )
    reference: str | None = Field(
        default=None,
        validation_alias=AliasChoices("reference", "ground_truth"),
        description="A reference answer (alias: ground_truth); context_recall needs it.",
    )
    metadata: dict[str, Any] = Field(
        default_factory=dict,
        description="Your own fields (retriever, topic, language, customer...): text, numbers, true/false or null; "
                    "kept with the sample, echoed in its result and usable to slice summaries and comparisons.",
    )

    @field_validator("id", "user_input", "response", "reference", "retrieved_contexts")
    @classmethod
    def _no_lone_surrogates(cls, value: object) -> object:
        # "\ud800" parses from JSON but cannot be written back as UTF-8: refuse it here, not in the response.
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and _SURROGATE.search(t) for t in texts):
            raise ValueError("holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text")
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _metadata_scalars(cls, value: object) -> object:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValueError(f"must be an object of your own fields, not {type(value).__name__}")
        for key, item in value.items():
            if not isinstance(key, str) or _SURROGATE.search(key):
                raise ValueError(f"key {key!r} must be valid text")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{key!r} must be a finite number, not NaN or an infinity")
            if item is not None and not isinstance(item, (str, bool, int, float)):
                raise ValueError(f"{key!r} must be text, a number, true/false or null, not {type(item).__name__}")
            if isinstance(item, str) and _SURROGATE.search(item):
                raise ValueError(f"{key!r} holds a lone surrogate (\\ud800-\\udfff), which is not valid Unicode text")
        return value

    @field_validator("user_input", "response")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value

    @field_validator("retrieved_contexts", mode="before")
    @classmethod
    def _contexts_are_strings(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("must be a list of strings, not a single string")
        if isinstance(value, list):
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise ValueError(f"item {i} is {type(item).__name__}, not a string")
                if not item.strip():
                    raise ValueError(f"item {i} is empty")
        return value

    @field_validator("reference")
    @classmethod
    def _blank_reference_is_none(cls, value: str | None) -> str | None:
        return value if value and value.strip() else None


def field_aliases() -> dict[str, tuple[str, ...]]:
    """Each field's accepted names, Ragas name first: {"user_input": ("user_input", "question"), ...}."""
    out = {}
    for name, info in Sample.model_fields.items():
        alias = info.validation_alias
        # Every alias is a plain name (no AliasPath).
        out[name] = tuple(str(c) for c in alias.choices) if isinstance(alias, AliasChoices) else (name,)
    return out


FIELD_ALIASES = field_aliases()
