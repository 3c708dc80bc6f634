"""Our prompts for the LLM judge, the JSON schemas of their replies, and the reply parsers.

Two prompts per sample: DECOMPOSE reads the answer (and reference) without the contexts;
VERIFY reads every context once and judges all claims, statements and contexts together.
Each asks only for the keys the requested metrics need.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, field_validator

from ..types import (ClaimVerdict, ContextVerdict, Decomposition, Needs, Sample,
                     StatementVerdict, Verification)

SYSTEM = (
    "You are a careful, literal evaluator of answers written by a retrieval-augmented assistant. "
    "You reply with one JSON object and nothing else."
)

_STANDALONE = (
    "Each item must make sense on its own: replace pronouns and phrases such as \"it\", \"she\" or "
    "\"the film\" with what they refer to, keep numbers, dates, names and qualifiers exactly as written, "
    "and split sentences that join several facts into one fact per item."
)


# ---------------------------------------------------------------- decompose
def decompose_messages(sample: Sample, need: Needs, n_questions: int) -> list[dict]:
    parts = [
        "Take the texts below apart for an evaluator. Do not judge whether anything in them is true.",
        f"QUESTION:\n{sample.user_input}",
        f"ANSWER:\n{sample.response}",
    ]
    if need.statements:
        parts.append(f"REFERENCE:\n{sample.reference}")
    keys = []
    if need.claims:
        keys.append(
            '- "claims": list of strings, every factual assertion the ANSWER makes. ' + _STANDALONE
            + " Leave out greetings, hedges and restatements of the question. An answer that declines, "
            "or says it does not know, makes no claims: []."
        )
    if need.questions:
        keys.append(
            '- "noncommittal": true when the ANSWER avoids answering (it says it does not know, cannot '
            "say, or gives no definite answer), otherwise false."
        )
        keys.append(
            f'- "questions": list of exactly {n_questions} different questions that the ANSWER would answer '
            "completely, phrased as a user would ask them."
        )
    if need.statements:
        keys.append('- "statements": list of strings, the factual statements of the REFERENCE. ' + _STANDALONE)
    parts.append("Reply with a JSON object with these keys:\n" + "\n".join(keys))
    parts.append("Write every item in the language of the text it is taken from.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def decompose_schema(need: Needs, n_questions: int) -> dict:
    strings = {"type": "array", "items": {"type": "string"}}
    props: dict = {}
    if need.claims:
        props["claims"] = strings
    if need.questions:
        props["noncommittal"] = {"type": "boolean"}
        props["questions"] = {**strings, "minItems": n_questions, "maxItems": n_questions}
    if need.statements:
        props["statements"] = strings
    return _object(props)


class _DecomposeReply(BaseModel):
    claims: list[str] = []
    noncommittal: bool = False
    questions: list[str] = []
    statements: list[str] = []


def parse_decomposition(data: dict, need: Needs, n_questions: int) -> Decomposition:
    """Validate a DECOMPOSE reply; raises ValueError naming what is wrong."""
    reply = _DecomposeReply.model_validate(data)
    _require_keys(data, decompose_schema(need, n_questions))
    questions = _clean(reply.questions)[:n_questions]
    if need.questions and not reply.noncommittal and not questions:
        raise ValueError('"questions" is empty')
    return Decomposition(claims=_clean(reply.claims), questions=questions,
                         noncommittal=reply.noncommittal, statements=_clean(reply.statements))


# ---------------------------------------------------------------- verify
def verify_messages(sample: Sample, parts: Decomposition, need: Needs) -> list[dict]:
    contexts = "\n\n".join(f"[{i}] {c}" for i, c in enumerate(sample.retrieved_contexts, start=1))
    sections = [
        "Check an assistant's output against the retrieved CONTEXTS. Judge only from what the CONTEXTS "
        "say, never from your own knowledge.",
        f"QUESTION:\n{sample.user_input}",
        f"CONTEXTS:\n{contexts}",
    ]
    claims = need.claims and parts.claims
    statements = need.statements and parts.statements
    if claims:
        sections.append("CLAIMS (taken from the answer):\n" + _numbered(parts.claims))
    if statements:
        sections.append("REFERENCE STATEMENTS:\n" + _numbered(parts.statements))
    target = None
    if need.context_verdicts:
        if sample.reference is not None and statements:
            target = "the REFERENCE STATEMENTS"
        elif sample.reference is not None:
            sections.append(f"REFERENCE ANSWER:\n{sample.reference}")
            target = "the REFERENCE ANSWER"
        elif claims:
            target = "the CLAIMS"
        else:
            sections.append(f"ANSWER:\n{sample.response}")
            target = "the ANSWER"

    keys = []
    quote = ('"evidence": a quote copied word for word from one context that shows the verdict (empty '
             'string when there is none), "context": the number of that context (0 when none), '
             '"reason": one short sentence')
    if claims:
        keys.append(
            '- "claims": one object per CLAIM, in the same order, with "verdict": "supported" when the '
            'contexts state it or directly imply it, "contradicted" when they state the opposite, '
            f'"unsupported" otherwise; {quote}.'
        )
    if statements:
        keys.append(
            '- "statements": one object per REFERENCE STATEMENT, in the same order, with "attributable": '
            f"true when the contexts contain that information, otherwise false; {quote}."
        )
    if target:
        keys.append(
            '- "contexts": one object per CONTEXT, in the same order, with "useful": true when the context '
            f'holds information needed to arrive at {target}, otherwise false; "reason": one short sentence.'
        )
    sections.append("Reply with a JSON object with these keys:\n" + "\n".join(keys))
    sections.append("Write each reason in the language of the item it is about.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(sections)}]


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


def verify_schema(counts: dict[str, int]) -> dict:
    quoted = {"evidence": {"type": "string"}, "context": {"type": "integer"}, "reason": {"type": "string"}}
    items = {
        "claims": _object({"verdict": {"type": "string", "enum": ["supported", "unsupported", "contradicted"]},
                           **quoted}),
        "statements": _object({"attributable": {"type": "boolean"}, **quoted}),
        "contexts": _object({"useful": {"type": "boolean"}, "reason": {"type": "string"}}),
    }
    return _object({key: {"type": "array", "items": items[key], "minItems": n, "maxItems": n}
                    for key, n in counts.items()})


class _Quoted(BaseModel):
    evidence: str = ""
    context: int | None = None
    reason: str = ""


class _ClaimItem(_Quoted):
    verdict: Literal["supported", "unsupported", "contradicted"]

    @field_validator("verdict", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value


class _StatementItem(_Quoted):
    attributable: bool


class _ContextItem(BaseModel):
    useful: bool
    reason: str = ""


class _VerifyReply(BaseModel):
    claims: list[_ClaimItem] = []
    statements: list[_StatementItem] = []
    contexts: list[_ContextItem] = []


def parse_verification(data: dict, sample: Sample, parts: Decomposition, counts: dict[str, int]) -> Verification:
    """Validate a VERIFY reply against the items sent; raises ValueError naming what is wrong."""
    reply = _VerifyReply.model_validate(data)
    for key, n in counts.items():
        got = len(getattr(reply, key))
        if got != n:
            raise ValueError(f'"{key}" must hold exactly {n} objects, one per item in order; it holds {got}')
    n_contexts = len(sample.retrieved_contexts)

    def index(item: _Quoted) -> int | None:
        return item.context - 1 if item.context and 1 <= item.context <= n_contexts else None

    return Verification(
        claims=[ClaimVerdict(claim=text, verdict=item.verdict, reason=item.reason, evidence=item.evidence,
                             context_index=index(item))
                for text, item in zip(parts.claims, reply.claims)] if "claims" in counts else [],
        statements=[StatementVerdict(statement=text, attributable=item.attributable, reason=item.reason,
                                     evidence=item.evidence, context_index=index(item))
                    for text, item in zip(parts.statements, reply.statements)] if "statements" in counts else [],
        contexts=[ContextVerdict(index=i, useful=item.useful, reason=item.reason)
                  for i, item in enumerate(reply.contexts)] if "contexts" in counts else [],
    )


# ---------------------------------------------------------------- helpers
def _object(props: dict) -> dict:
    # Strict structured output wants every key required and no others allowed.
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _require_keys(data: dict, schema: dict) -> None:
    missing = [k for k in schema["required"] if k not in data]
    if missing:
        raise ValueError(f"missing keys: {', '.join(missing)}")


def _numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {text}" for i, text in enumerate(items, start=1))


def _clean(items: list[str]) -> list[str]:
    return [s.strip() for s in items if s and s.strip()]
