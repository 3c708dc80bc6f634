"""Answer correctness: how right the answer is against the reference, as Ragas defines it.

0.75 x factuality + 0.25 x semantic similarity. Factuality is the F1 of the answer's claims against the
reference: TP = answer claims the reference entails, FP = answer claims it does not, FN = reference
statements the answer does not state; F1 = TP / (TP + 0.5 (FP + FN)), 0 when TP is 0, and 1 when neither
text has a claim (as ragas scores it). Semantic similarity is the semantic_similarity metric's cosine.
"""
# Where one side only has claims, ragas 0.4.3 scores factuality 1 (a refusal would be fully factual); the
# formula's 0 is kept there, as ragas' earlier AnswerCorrectness did (bench/formula_parity.py shows the cases).
from __future__ import annotations

import math
import sys

from .answer_relevancy import cosine_similarities
from .claim_sets import Incomplete, compared
from .judgements import Needs
from .metric import Judged, Metric, RagasCounterpart, replies_named
from .metric_score import INVALID_VALUE, UNSUPPORTED_LANGUAGE, MetricScore
from .sample import Sample

# Ragas' documented default weights: factuality, semantic similarity.
WEIGHTS = (0.75, 0.25)


class AnswerCorrectnessDetail(MetricScore):
    factuality: float | None = None
    similarity: float | None = None
    true_positives: list[str] = []
    false_positives: list[str] = []
    false_negatives: list[str] = []


def factuality(tp: int, fp: int, fn: int) -> float:
    """Ragas' statement F1: TP / (TP + 0.5 (FP + FN)); 0 without a TP, 1 when there is nothing to compare."""
    if tp + fp + fn == 0:
        return 1.0
    return tp / (tp + 0.5 * (fp + fn)) if tp > 0 else 0.0


def blend(fact: float, similarity: float) -> float:
    return (WEIGHTS[0] * fact + WEIGHTS[1] * similarity) / sum(WEIGHTS)


def score(sample: Sample, judged: Judged) -> AnswerCorrectnessDetail:
    comparison = judged.compared
    try:
        # An empty side is fine here (ragas scores it); an abstained entailment is not.
        claims = compared(comparison.claims, "") if comparison.claims else []
        statements = compared(comparison.statements, "") if comparison.statements else []
    except Incomplete as missing:
        return AnswerCorrectnessDetail.null(missing.reason)
    tp = [c.text for c in claims if c.entailed]
    fp = [c.text for c in claims if not c.entailed]
    fn = [s.text for s in statements if not s.entailed]
    fact = factuality(len(tp), len(fp), len(fn))
    [cosine] = cosine_similarities(judged.vector(sample.reference or ""), [judged.vector(sample.response)])
    if not math.isfinite(cosine):
        return AnswerCorrectnessDetail.null(INVALID_VALUE, factuality=fact)
    similarity = max(0.0, cosine)  # floored at 0, as the semantic_similarity metric is
    return AnswerCorrectnessDetail.of(blend(fact, similarity), factuality=fact, similarity=similarity,
                                      true_positives=tp, false_positives=fp, false_negatives=fn)


def from_ragas(value: float, replies: list, sample: Sample) -> MetricScore:
    """ragas' TP/FP/FN statements as the claim lists."""
    found = next(iter(replies_named(replies, "ClassificationWithReason")), None)

    def texts(kind: str) -> list[str]:
        return [s.statement for s in getattr(found, kind, [])]

    return AnswerCorrectnessDetail.of(value, true_positives=texts("TP"), false_positives=texts("FP"),
                                      false_negatives=texts("FN"))


METRIC = Metric(
    name="answer_correctness", module=sys.modules[__name__], detail=AnswerCorrectnessDetail, score=score,
    required_fields=("response", "reference"), optional_fields=("user_input",),
    needs=Needs(correctness=True), embeds=lambda sample: [sample.reference or "", sample.response],
    null_reasons=(UNSUPPORTED_LANGUAGE,), default=False,
    ragas=RagasCounterpart("AnswerCorrectness", ("user_input", "response", "reference"), from_ragas,
                           uses=("llm", "embeddings")),
)
