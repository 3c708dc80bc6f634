"""The CI gate's verdict over scored rows: each rule, the baseline comparison, and the exit code.

Exit codes: 0 every rule passed; 1 a rule failed or a metric regressed; 2 usage or infrastructure
error (bad config or file, no judge, too many scoring errors). Never 0 when scoring failed.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from ragmeter.service.rows import ScoredRow
from ragmeter.service.ci.baseline import Regression, compare
from ragmeter.service.ci.rules import GateRules, RuleResult, check


class ExitCode(IntEnum):
    PASS = 0
    FAIL = 1
    ERROR = 2


@dataclass
class GateVerdict:
    code: ExitCode
    samples: int
    rules: list[RuleResult]
    regressions: list[Regression]

    @property
    def word(self) -> str:
        return self.code.name.lower()


def judge_rows(rows: list[ScoredRow], rules: GateRules, baseline: list[ScoredRow] | None = None) -> GateVerdict:
    """Apply the rules (and the baseline check) to scored rows."""
    results = check(rows, rules)
    regressions = compare(rows, baseline, rules.scored_metrics, rules.baseline_tolerance) if baseline else []
    if not results[0].passed:  # too many scoring errors: the other verdicts mean nothing
        code = ExitCode.ERROR
    elif any(not r.passed for r in results) or any(g.regressed for g in regressions):
        code = ExitCode.FAIL
    else:
        code = ExitCode.PASS
    return GateVerdict(code, len(rows), results, regressions)
