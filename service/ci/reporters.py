"""The CI gate's verdict for people and machines: a terminal table, JSON, JUnit XML, a GitHub step summary."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict

from rich.console import Console
from rich.table import Table

from ragmeter.service.ci.verdict import GateVerdict

SHOWN_SAMPLES = 10


def more(total: int, shown: int = SHOWN_SAMPLES) -> str | None:
    """The line saying how many failing samples a truncated list leaves out (all of them are in --json)."""
    return f"... and {total - shown} more (every one in --json, --junit)" if total > shown else None


def print_verdict(console: Console, verdict: GateVerdict) -> None:
    table = Table(title=f"ragmeter gate: {verdict.word.upper()} ({verdict.samples} samples)")
    for column in ("rule", "actual", "required", "result", "detail"):
        table.add_column(column)
    for r in verdict.rules:
        table.add_row(r.name, "n/a" if r.actual is None else f"{r.actual:.4g}", r.required,
                      "[green]pass[/green]" if r.passed else "[red]FAIL[/red]", r.detail)
    for g in verdict.regressions:
        table.add_row(f"baseline.{g.metric}", f"{g.current_mean:.4g}", f"vs {g.baseline_mean:.4g} ({g.pairs} pairs)",
                      "[red]FAIL[/red]" if g.regressed else "[green]pass[/green]", g.verdict)
    console.print(table)
    for r in verdict.rules:
        if not r.passed and r.failing_samples:
            console.print(f"[bold]{r.name}[/bold]: failing samples")
            for row in r.failing_samples[:SHOWN_SAMPLES]:
                console.print(f"  {row.label}: {row.user_input or ''}"[:160], soft_wrap=True)
                for claim in row.unsupported_claims[:3]:
                    console.print(f"    unsupported: {claim}", soft_wrap=True)
                if row.error:
                    console.print(f"    error: {row.error}", soft_wrap=True)
            if rest := more(len(r.failing_samples)):
                console.print(f"  {rest}")


def as_json(verdict: GateVerdict) -> dict:
    return {
        "verdict": verdict.word, "samples": verdict.samples,
        "rules": [{"name": r.name, "actual": r.actual, "required": r.required, "passed": r.passed, "detail": r.detail,
                   "failing_samples": [{"id": s.label, "unsupported_claims": s.unsupported_claims, "error": s.error}
                                       for s in r.failing_samples]} for r in verdict.rules],
        "baseline": [asdict(g) for g in verdict.regressions],
    }


def junit(verdict: GateVerdict) -> bytes:
    """One testcase per rule and per failing sample, so CI shows which answers broke and why."""
    suite = ET.Element("testsuite", name="ragmeter gate")
    cases = 0
    failures = 0

    def case(classname: str, name: str, failure: str | None) -> None:
        nonlocal cases, failures
        element = ET.SubElement(suite, "testcase", classname=classname, name=name)
        cases += 1
        if failure is not None:
            ET.SubElement(element, "failure", message=failure[:200]).text = failure
            failures += 1

    for r in verdict.rules:
        case("ragmeter.rules", r.name, None if r.passed else f"{r.actual} (required {r.required}): {r.detail}")
        if not r.passed:
            for s in r.failing_samples:
                case(f"ragmeter.samples.{r.name}", s.label,
                     f"unsupported claims: {s.problem}" if s.problem else r.name)
    for g in verdict.regressions:
        case("ragmeter.baseline", g.metric, g.verdict if g.regressed else None)
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def markdown(verdict: GateVerdict) -> str:
    lines = [f"### ragmeter gate: {verdict.word.upper()} ({verdict.samples} samples)", "",
             "| rule | actual | required | result |", "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.actual} | {r.required} | {'pass' if r.passed else '**FAIL**'} |" for r in verdict.rules]
    lines += [f"| baseline.{g.metric} | {g.current_mean} | vs {g.baseline_mean} | "
              f"{'**FAIL**' if g.regressed else 'pass'}: {g.verdict} |" for g in verdict.regressions]
    failing = [r for r in verdict.rules if not r.passed and r.failing_samples]
    if failing:
        lines += ["", "Failing samples:"]
        for r in failing:
            lines += [f"- `{s.label}` ({r.name}): {s.problem}" for s in r.failing_samples[:SHOWN_SAMPLES]]
            if rest := more(len(r.failing_samples)):
                lines.append(f"- {rest} ({r.name})")
    return "\n".join(lines) + "\n\n"


def failure_message(verdict: GateVerdict) -> str:
    """The failed rules and their samples, for an assertion error."""
    lines = [f"RAG quality gate failed ({verdict.samples} samples):"]
    for rule in verdict.rules:
        if rule.passed:
            continue
        lines.append(f"  {rule.name}: {rule.actual} (required {rule.required}); {rule.detail}")
        for s in rule.failing_samples[:SHOWN_SAMPLES]:
            lines.append(f"    {s.label}: {s.user_input!r}" + (f" -> unsupported: {s.problem}" if s.problem else ""))
        if len(rule.failing_samples) > SHOWN_SAMPLES:
            lines.append(f"    ... and {len(rule.failing_samples) - SHOWN_SAMPLES} more")
    return "\n".join(lines)
