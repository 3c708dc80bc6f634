"""Our prompt text for the LLM judge; the replies they ask for are declared in `llm_replies.py`.

Two prompts per sample: DECOMPOSE reads the answer (and reference) without the contexts;
VERIFY reads every context once and judges all claims, statements and contexts together.
A third, COMPARE, only for the correctness metrics: the answer and the reference read against
each other, without the contexts. Each asks only for the keys the requested metrics need.
"""
from __future__ import annotations

from ..judgements import Decomposition, Needs
from ..sample import Sample

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
    if need.relevance:
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
    if need.chunk_support:
        # Which chunk holds what: the retriever and generator diagnostics read every supporting context.
        quote += ('; "supported_by": the numbers of ALL contexts that on their own state or directly imply the '
                  'item (several when several do; [] when none)')
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


# ---------------------------------------------------------------- compare
def compare_messages(sample: Sample, parts: Decomposition) -> list[dict]:
    """The answer's claims against the reference and the reference's statements against the answer, in one call."""
    sections = [
        "Compare an assistant's ANSWER with the REFERENCE answer written by a person. Judge only from what the "
        "two texts say, never from your own knowledge or from whether an item is true in the world.",
        f"QUESTION:\n{sample.user_input}",
        f"ANSWER:\n{sample.response}",
        f"REFERENCE:\n{sample.reference or ''}",
    ]
    if parts.claims:
        sections.append("ANSWER CLAIMS:\n" + _numbered(parts.claims))
    if parts.statements:
        sections.append("REFERENCE STATEMENTS:\n" + _numbered(parts.statements))
    rule = ('"stated": true only when {other} states it or directly implies it (a different number, date or name, '
            'an added or dropped negation, or a claim {other} does not make, is false); "evidence": a quote copied '
            'word for word from {other} that shows the verdict (empty string when there is none); "reason": one '
            "short sentence")
    keys = []
    if parts.claims:
        keys.append('- "claims": one object per ANSWER CLAIM, in the same order, with '
                    + rule.format(other="the REFERENCE") + ".")
    if parts.statements:
        keys.append('- "statements": one object per REFERENCE STATEMENT, in the same order, with '
                    + rule.format(other="the ANSWER") + ".")
    sections.append("Reply with a JSON object with these keys:\n" + "\n".join(keys))
    sections.append("Write each reason in the language of the item it is about.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(sections)}]


# ---------------------------------------------------------------- helpers
def _numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {text}" for i, text in enumerate(items, start=1))
