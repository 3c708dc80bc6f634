"""The LLM judge's replies, declared once: each reply is a pydantic model that validates the reply
and also produces the strict JSON schema sent with the request.

A reply holds only the keys the requested metrics read (`Needs`), and the VERIFY reply one
verdict per item sent, in order.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, create_model, field_validator

from ..judgements import (ClaimVerdict, Comparison, ContextVerdict, Decomposition, EntailmentVerdict, Needs,
                          StatementVerdict, Verification)
from ..sample import Sample


# The verdict comes first in each item, as the prompt orders it; `context` is 1-based, 0 for none.
class ClaimItem(BaseModel):
    verdict: Literal["supported", "unsupported", "contradicted"]
    evidence: str = ""
    context: int | None = None
    reason: str = ""

    @field_validator("verdict", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class StatementItem(BaseModel):
    attributable: bool
    evidence: str = ""
    context: int | None = None
    reason: str = ""


# With per-chunk support asked for (Needs.chunk_support): every context that supports the item, 1-based.
class ClaimChunkItem(ClaimItem):
    supported_by: list[int]


class StatementChunkItem(StatementItem):
    supported_by: list[int]


class ContextItem(BaseModel):
    useful: bool
    reason: str = ""


# The type of each VERIFY key's list (a value, not an annotation: the reply model is built from it).
VERIFY_LISTS: dict[str, Any] = {"claims": list[ClaimItem], "statements": list[StatementItem],
                                "contexts": list[ContextItem]}
CHUNK_LISTS: dict[str, Any] = {**VERIFY_LISTS, "claims": list[ClaimChunkItem], "statements": list[StatementChunkItem]}


# COMPARE: each item of one text, stated or implied by the other text or not.
class CompareItem(BaseModel):
    stated: bool
    evidence: str = ""
    reason: str = ""


# ---------------------------------------------------------------- reply models
@lru_cache(maxsize=256)
def decompose_reply(need: Needs, n_questions: int) -> type[BaseModel]:
    """The DECOMPOSE reply for these needs."""
    fields: dict = {}
    if need.claims:
        fields["claims"] = (list[str], ...)
    if need.relevance:
        fields["noncommittal"] = (bool, ...)
        # Asked for exactly n; fewer is still usable, so only the schema insists.
        fields["questions"] = (list[str], Field(json_schema_extra={"minItems": n_questions, "maxItems": n_questions}))
    if need.statements:
        fields["statements"] = (list[str], ...)
    return create_model("DecomposeReply", **fields)


def verify_counts(sample: Sample, parts: Decomposition, need: Needs) -> dict[str, int]:
    """How many items each key of the VERIFY reply must hold."""
    counts = {}
    if need.claims and parts.claims:
        counts["claims"] = len(parts.claims)
    if need.statements and parts.statements:
        counts["statements"] = len(parts.statements)
    if need.context_verdicts:
        counts["contexts"] = len(sample.retrieved_contexts)
    return counts


def verify_reply(counts: dict[str, int], chunk_support: bool = False) -> type[BaseModel]:
    """The VERIFY reply: one item per claim, statement and context sent (with `supported_by` on request)."""
    return _verify_reply(tuple(counts.items()), chunk_support)


@lru_cache(maxsize=1024)
def _verify_reply(counts: tuple[tuple[str, int], ...], chunk_support: bool = False) -> type[BaseModel]:
    lists = CHUNK_LISTS if chunk_support else VERIFY_LISTS
    fields: dict = {key: (lists[key], Field(min_length=n, max_length=n)) for key, n in counts}
    return create_model("VerifyReply", **fields)


def compare_counts(parts: Decomposition) -> dict[str, int]:
    """How many items each key of the COMPARE reply must hold (a key with none is left out)."""
    return {key: len(items) for key, items in (("claims", parts.claims), ("statements", parts.statements)) if items}


@lru_cache(maxsize=1024)
def _compare_reply(counts: tuple[tuple[str, int], ...]) -> type[BaseModel]:
    fields: dict = {key: (list[CompareItem], Field(min_length=n, max_length=n)) for key, n in counts}
    return create_model("CompareReply", **fields)


def compare_reply(counts: dict[str, int]) -> type[BaseModel]:
    """The COMPARE reply: one item per answer claim and per reference statement sent."""
    return _compare_reply(tuple(counts.items()))


def compare_schema(counts: dict[str, int]) -> dict:
    """The strict schema of the COMPARE reply."""
    return _compare_schema(tuple(counts.items()))


@lru_cache(maxsize=1024)
def _compare_schema(counts: tuple[tuple[str, int], ...]) -> dict:
    return strict_schema(compare_reply(dict(counts)))


def strict_schema(model: type[BaseModel]) -> dict:
    """The model's JSON schema in the form strict structured output wants: inlined, every key required, no others."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def strict(node):
        if isinstance(node, list):
            return [strict(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return strict(defs[node["$ref"].rsplit("/", 1)[-1]])
        if "anyOf" in node:  # `int | None`: the schema asks for the integer, 0 meaning none
            node = {**next(o for o in node["anyOf"] if o.get("type") != "null"),
                    **{k: v for k, v in node.items() if k != "anyOf"}}
        out = {k: strict(v) for k, v in node.items() if k not in ("title", "default", "description")}
        if out.get("type") == "object":
            out["required"] = list(out.get("properties", {}))
            out["additionalProperties"] = False
        # A fixed key order keeps the request bytes stable across pydantic versions.
        return dict(sorted(out.items(), key=lambda kv: _KEY_ORDER.get(kv[0], len(_KEY_ORDER))))

    return strict(schema)


_KEY_ORDER = {k: i for i, k in enumerate(("type", "enum", "properties", "items", "minItems", "maxItems", "required",
                                          "additionalProperties"))}


@lru_cache(maxsize=256)
def decompose_schema(need: Needs, n_questions: int) -> dict:
    """The strict schema of the DECOMPOSE reply (cached: requests repeat the same few shapes)."""
    return strict_schema(decompose_reply(need, n_questions))


def verify_schema(counts: dict[str, int], chunk_support: bool = False) -> dict:
    """The strict schema of the VERIFY reply."""
    return _verify_schema(tuple(counts.items()), chunk_support)


@lru_cache(maxsize=1024)
def _verify_schema(counts: tuple[tuple[str, int], ...], chunk_support: bool = False) -> dict:
    return strict_schema(verify_reply(dict(counts), chunk_support))


# ---------------------------------------------------------------- parsing
def validate(model: type[BaseModel], data: dict) -> BaseModel:
    """The reply as the model; raises ValueError saying what is wrong, for the repair prompt."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValueError(_describe(exc)) from exc


def parse_decomposition(data: dict, need: Needs, n_questions: int) -> Decomposition:
    """Validate a DECOMPOSE reply; raises ValueError naming what is wrong."""
    reply = validate(decompose_reply(need, n_questions), data)
    questions = _clean(getattr(reply, "questions", []))[:n_questions]
    noncommittal = getattr(reply, "noncommittal", False)
    if need.relevance and not noncommittal and not questions:
        raise ValueError('"questions" is empty')
    return Decomposition(claims=_clean(getattr(reply, "claims", [])), questions=questions, noncommittal=noncommittal,
                         statements=_clean(getattr(reply, "statements", [])))


def parse_verification(data: dict, sample: Sample, parts: Decomposition, counts: dict[str, int],
                       chunk_support: bool = False) -> Verification:
    """Validate a VERIFY reply against the items sent; raises ValueError naming what is wrong."""
    reply = validate(verify_reply(counts, chunk_support), data)
    n_contexts = len(sample.retrieved_contexts)

    def index(item: ClaimItem | StatementItem) -> int | None:
        return item.context - 1 if item.context and 1 <= item.context <= n_contexts else None

    def supporting(item: ClaimItem | StatementItem, supported: bool) -> list[int] | None:
        if not chunk_support:
            return None
        return supporting_contexts(getattr(item, "supported_by", []), index(item), supported, n_contexts)

    # A key not asked for (say need.claims false) has no items in the reply: its texts get no verdicts.
    return Verification(
        claims=[ClaimVerdict(claim=text, verdict=item.verdict, reason=item.reason, evidence=item.evidence,
                             context_index=index(item), contexts=supporting(item, item.verdict == "supported"))
                for text, item in zip(parts.claims, getattr(reply, "claims", []), strict=False)],
        statements=[StatementVerdict(statement=text, attributable=item.attributable, reason=item.reason,
                                     evidence=item.evidence, context_index=index(item),
                                     contexts=supporting(item, item.attributable))
                    for text, item in zip(parts.statements, getattr(reply, "statements", []), strict=False)],
        contexts=[ContextVerdict(index=i, useful=item.useful, reason=item.reason)
                  for i, item in enumerate(getattr(reply, "contexts", []))],
    )


def supporting_contexts(numbers: list[int], quoted: int | None, supported: bool, n_contexts: int) -> list[int]:
    """The 0-based contexts that support an item, from the judge's 1-based numbers, kept consistent with its verdict.

    Numbers out of range (a miscount, or 0 for none) are dropped rather than failing the whole reply; an item
    judged unsupported has no supporting context, and a supported one always has the context it quotes.
    """
    if not supported:
        return []
    found = {n - 1 for n in numbers if 1 <= n <= n_contexts}
    if quoted is not None:
        found.add(quoted)
    return sorted(found)


def parse_comparison(data: dict, parts: Decomposition, counts: dict[str, int]) -> Comparison:
    """Validate a COMPARE reply against the claims and statements sent; raises ValueError naming what is wrong."""
    reply = validate(compare_reply(counts), data)

    def verdicts(texts: list[str], items: list[CompareItem]) -> list[EntailmentVerdict]:
        return [EntailmentVerdict(text=t, entailed=item.stated, evidence=item.evidence, reason=item.reason)
                for t, item in zip(texts, items, strict=True)]

    return Comparison(claims=verdicts(parts.claims, getattr(reply, "claims", [])),
                      statements=verdicts(parts.statements, getattr(reply, "statements", [])))


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error["loc"])
        if error["type"] in ("too_short", "too_long") and len(error["loc"]) == 1:
            n = error["ctx"].get("min_length") or error["ctx"].get("max_length")
            problems.append(f'"{where}" must hold exactly {n} objects, one per item in order; '
                            f'it holds {error["ctx"].get("actual_length")}')
        elif error["type"] == "missing" and len(error["loc"]) == 1:
            problems.append(f"missing key: {where}")
        else:
            problems.append(f"{where}: {error['msg']}")
    return "; ".join(problems[:5])


def _clean(items: list[str]) -> list[str]:
    return [s.strip() for s in items if s and s.strip()]
