"""The hallucination gate: should the app block this answer?

The answer fails when its hallucination score (1 - faithfulness) is above the threshold, when
a claim is contradicted by the contexts, or when a score is below a per-metric minimum (above a
maximum, for a lower-is-better metric such as RAGChecker's hallucination) the caller set. An answer
with no claims (a refusal) has nothing to hallucinate and passes, saying so. When a score the gate
needs could not be computed, `on_error` decides: block (the default, fail closed) or allow.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .judgements import ClaimVerdict
from .registry import BY_NAME, MetricName
from .metric_score import JUDGE_ERROR, NO_CITATIONS, NO_CLAIMS, NOT_REQUESTED, MetricScore


class GateConfig(BaseModel):
    """Per-request gate settings; unset fields fall back to the service's defaults."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    threshold: float | None = Field(default=None, ge=0.0, le=1.0,
                                    description="Largest hallucination score (1 - faithfulness) that passes.")
    min_scores: dict[MetricName, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, description="Per-metric minimums in [0, 1], e.g. {\"context_recall\": 0.5}.")
    max_scores: dict[MetricName, Annotated[float, Field(ge=0.0, le=1.0)]] = Field(
        default_factory=dict, description="Per-metric maximums in [0, 1] for lower-is-better metrics, e.g. "
                                          "{\"hallucination\": 0.1}.")
    on_error: Literal["block", "allow"] = Field(default="block",
                                                description="Verdict when a needed score could not be computed.")
    fail_on_contradiction: bool = Field(
        default=True, description="Fail the answer when any claim is contradicted by the contexts, whatever the "
                                  "hallucination score.")
    fail_on_unsupported_citation: bool = Field(
        default=False, description="Fail the answer when a sentence with citation markers is not supported by the "
                                   "contexts it cites (rule `unsupported_citation`; computes citation_recall).")

    @field_validator("threshold", "min_scores", "max_scores", mode="before")
    @classmethod
    def _no_booleans(cls, value: object) -> object:
        # JSON true/false would otherwise pass as 1.0/0.0.
        values = value.values() if isinstance(value, dict) else [value]
        if any(isinstance(v, bool) for v in values):
            raise ValueError("must be a number in [0, 1], not true/false")
        return value

    @model_validator(mode="after")
    def _limits_in_the_metrics_direction(self) -> GateConfig:
        # A minimum on a rate of something bad (or a maximum on a good score) blocks the good answers: refused.
        check_directions(self.min_scores, self.max_scores)
        return self

    @property
    def limited_metrics(self) -> set[str]:
        """The metrics a per-metric limit names: scored even when the request did not list them."""
        return {*self.min_scores, *self.max_scores}


def check_directions(minimums: Mapping[str, float], maximums: Mapping[str, float]) -> None:
    """ValueError when a minimum names a lower-is-better metric or a maximum a higher-is-better one."""
    wrong = [f"{m} is lower-is-better: give it a maximum (max_scores / max_mean / max_sample), not a minimum"
             for m in minimums if m in BY_NAME and BY_NAME[m].better == "lower"]
    wrong += [f"{m} is higher-is-better: give it a minimum, not a maximum"
              for m in maximums if m in BY_NAME and BY_NAME[m].better == "higher"]
    if wrong:
        raise ValueError("; ".join(wrong))


class GateResult(BaseModel):
    passed: bool
    hallucination_score: float | None
    threshold: float
    unsupported_claims: list[str] = []
    failed_rules: list[str] = Field(default_factory=list, description="Why the answer failed; empty when it passed.")
    notes: list[str] = Field(default_factory=list,
                             description="What the gate could not check, and why it passed anyway.")


def apply_gate(scores: Mapping[str, MetricScore], claims: list[ClaimVerdict],
               config: GateConfig, threshold: float) -> GateResult:
    """Gate verdict from the sample's metric scores (their details) and claim verdicts."""
    failed: list[str] = []
    notes: list[str] = []
    hallucination: float | None = None

    faith = scores.get("faithfulness")
    if faith is not None and faith.reason != NOT_REQUESTED:
        if faith.score is not None:
            hallucination = round(1.0 - faith.score, 6)
            if hallucination > threshold:
                failed.append(f"hallucination_score {hallucination:.3f} > threshold {threshold:.3f}")
        elif faith.reason == NO_CLAIMS:
            notes.append("no_claims: the answer makes no factual claims (a refusal), nothing to block")
        else:
            _unavailable("faithfulness", faith, config, failed, notes)
    else:
        notes.append("faithfulness not requested: hallucination rule not checked")

    contradicted = [c.claim for c in claims if c.verdict == "contradicted"]
    if config.fail_on_contradiction and contradicted:
        # A claim the contexts say the opposite of is the error an app must not show, even beside true ones.
        more = f" and {len(contradicted) - 1} more" if len(contradicted) > 1 else ""
        failed.append(f"contradicted claim: \"{contradicted[0][:120]}\"{more}")

    if config.fail_on_unsupported_citation:
        _citations(scores.get("citation_recall"), config, failed, notes)

    for metric, minimum in config.min_scores.items():
        score = scores.get(metric)
        if score is None or score.score is None:
            _unavailable(metric, score, config, failed, notes)
        elif score.score < minimum:
            failed.append(f"{metric} {score.score:.3f} < minimum {minimum:.3f}")
    for metric, maximum in config.max_scores.items():
        score = scores.get(metric)
        if score is None or score.score is None:
            _unavailable(metric, score, config, failed, notes)
        elif score.score > maximum:
            failed.append(f"{metric} {score.score:.3f} > maximum {maximum:.3f}")

    return GateResult(
        passed=not failed,
        hallucination_score=hallucination,
        threshold=threshold,
        unsupported_claims=[c.claim for c in claims if c.verdict != "supported"],
        failed_rules=failed,
        notes=notes,
    )


def _citations(recall: MetricScore | None, config: GateConfig, failed: list[str], notes: list[str]) -> None:
    """The unsupported_citation rule: every sentence that cites contexts is supported by them."""
    if recall is not None and recall.reason == NO_CITATIONS:
        notes.append("unsupported_citation not checked: the answer has no citation markers")
        return
    if recall is None or (recall.score is None and recall.reason != NO_CLAIMS):
        _unavailable("citation_recall", recall, config, failed, notes)
        return
    # Only sentences that cite something: an uncited sentence lowers citation recall but cites nothing wrong.
    wrong = [s.text for s in getattr(recall, "sentences", []) if s.citations and s.supported is False]
    if wrong:
        more = f" and {len(wrong) - 1} more" if len(wrong) > 1 else ""
        failed.append(f"unsupported_citation: \"{wrong[0][:120]}\"{more}")


def _unavailable(metric: str, score: MetricScore | None, config: GateConfig,
                 failed: list[str], notes: list[str]) -> None:
    reason = score.reason if score is not None else NOT_REQUESTED
    if reason == JUDGE_ERROR and config.on_error == "block":
        failed.append(f"{metric} unavailable ({reason}); on_error=block")
    else:
        notes.append(f"{metric} not checked ({reason})")
