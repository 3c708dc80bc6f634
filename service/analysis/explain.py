"""Why a row's score changed between two runs: both runs' explanations and what flipped.

With full results (batches in the store) the explanations are the judge's own; from scored files,
they come from the unsupported claims and the useful contexts the files keep.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from ragmeter.service.analysis.judge_comparison import explain

if TYPE_CHECKING:
    from ragmeter.service.analysis.comparison import RunRow

SNIPPET = 160


class RunSide(BaseModel):
    score: float | None
    response: str | None
    why: str


class RowChange(BaseModel):
    id: str
    question: str
    difference: float
    baseline: RunSide
    candidate: RunSide
    changes: list[str]  # "became unsupported: ...", "context stopped being useful: ..."


def why(run: RunRow, metric: str) -> str:
    """One line on the score: the judge's explanation when the run kept it, else what the scored row holds."""
    if run.result is not None:
        return explain(run.result, metric)
    row = run.row
    if metric == "faithfulness":
        claims = row.unsupported_claims
        return f"{len(claims)} claims not supported" + (": " + "; ".join(claims) if claims else "")
    if metric == "context_precision":
        return "useful contexts: " + (", ".join(str(i) for i in row.useful_contexts) or "none")
    score = row.score(metric)
    return "null" if score is None else f"score {score:.3f}"


def _useful_texts(run: RunRow) -> set[str]:
    return {run.row.retrieved_contexts[i] for i in run.row.useful_contexts if i < len(run.row.retrieved_contexts)}


def _statements(run: RunRow) -> set[str] | None:
    if run.result is None:
        return None
    return {s.statement for s in run.result.details.context_recall.statements if not s.attributable}


def what_changed(baseline: RunRow, candidate: RunRow, metric: str) -> list[str]:
    """The verdicts that flipped: claims that became unsupported, contexts that stopped being useful..."""
    out: list[str] = []
    if metric == "faithfulness":
        before, after = set(baseline.row.unsupported_claims), candidate.row.unsupported_claims
        out += [f"became unsupported: {c}" for c in after if c not in before]
        out += [f"no longer unsupported: {c}" for c in before if c not in set(after)]
    elif metric == "context_precision":
        was_useful, is_useful = _useful_texts(baseline), _useful_texts(candidate)
        contexts = set(candidate.row.retrieved_contexts)
        for text in sorted(was_useful - is_useful):
            verb = "stopped being useful" if text in contexts else "useful context no longer retrieved"
            out.append(f"{verb}: {_snippet(text)}")
        out += [f"became useful: {_snippet(t)}" for t in sorted(is_useful - was_useful)]
    elif metric == "context_recall":
        before_missing, after_missing = _statements(baseline), _statements(candidate)
        if before_missing is not None and after_missing is not None:
            out += [f"no longer attributable: {s}" for s in sorted(after_missing - before_missing)]
            out += [f"now attributable: {s}" for s in sorted(before_missing - after_missing)]
    if baseline.row.response != candidate.row.response:
        out.append("the answer changed")
    return out


def row_change(baseline: RunRow, candidate: RunRow, metric: str) -> RowChange:
    """Both runs' view of one paired row for one metric."""
    a, b = baseline.row.score(metric), candidate.row.score(metric)
    return RowChange(
        id=candidate.row.label, question=(candidate.row.user_input or "")[:300],
        difference=round((b or 0.0) - (a or 0.0), 4),
        baseline=RunSide(score=a, response=baseline.row.response, why=why(baseline, metric)),
        candidate=RunSide(score=b, response=candidate.row.response, why=why(candidate, metric)),
        changes=what_changed(baseline, candidate, metric))


def _snippet(text: str) -> str:
    return text if len(text) <= SNIPPET else text[:SNIPPET] + "..."
