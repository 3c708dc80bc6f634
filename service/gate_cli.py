"""`ragmeter gate`: score a dataset (or read scored results), apply the rules, say pass or fail.

Exit codes: 0 every rule passed; 1 a rule failed or a metric regressed; 2 usage or infrastructure
error (bad config or file, no judge, too many scoring errors). Never 0 when scoring failed.
"""
from __future__ import annotations

import argparse
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.table import Table

from metrics import Sample
from metrics.types import NEEDS_CONTEXTS

from .batch_input import BadUpload, read_upload
from .batch_output import encode, scored_record
from .quality_gate import GateRules, Regression, RuleResult, check, compare, load_rules

PASS, FAIL, ERROR = 0, 1, 2


class GateError(Exception):
    """Usage or infrastructure trouble: exit code 2."""


def add_parser(commands) -> None:
    gate = commands.add_parser("gate", help="fail a CI build when RAG quality drops")
    gate.add_argument("data", type=Path, nargs="?", help="dataset to score: CSV, JSONL, JSON or Parquet")
    gate.add_argument("--config", type=Path, help="ragmeter.toml ([gate]) or pyproject.toml ([tool.ragmeter.gate])")
    gate.add_argument("--scored", type=Path, help="already scored results (ragmeter score --out, batch results)")
    gate.add_argument("--url", help="score on a running ragmeter service")
    gate.add_argument("--baseline", type=Path, help="scored results of the last good run, to catch regressions")
    gate.add_argument("--out", type=Path, help="also write this run's scored results (the next baseline)")
    gate.add_argument("--json", action="store_true", help="print the verdict as JSON")
    gate.add_argument("--junit", type=Path, help="write a JUnit XML file: one testcase per rule and failing sample")


def run(args: argparse.Namespace) -> int:
    console = Console(stderr=args.json)
    try:
        rules = load_rules(args.config)
        records = _scored_records(args, rules)
        baseline = read_scored(args.baseline) if args.baseline else None
    except (GateError, OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return ERROR
    if args.out:
        args.out.write_bytes(encode(records, args.out.suffix.lstrip(".") or "jsonl"))
    results = check(records, rules)
    regressions = compare(records, baseline, rules) if baseline else []
    error_rule = results[0]
    code = ERROR if not error_rule.passed else (FAIL if any(not r.passed for r in results)
                                                 or any(g.regressed for g in regressions) else PASS)
    verdict = {0: "pass", 1: "fail", 2: "error"}[code]
    if args.json:
        print(json.dumps(as_json(verdict, records, results, regressions), indent=1, default=str))
    else:
        print_verdict(console, verdict, len(records), results, regressions)
    if args.junit:
        args.junit.write_bytes(junit(results, regressions))
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(markdown(verdict, len(records), results, regressions))
    return code


# ---------------------------------------------------------------- inputs
def read_scored(path: Path) -> list[dict]:
    """Flat scored records from JSONL, CSV or Parquet (the batch results format)."""
    fmt = path.suffix.lstrip(".").lower()
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if fmt not in ("csv", "parquet"):
        raise GateError(f"{path}: scored results must be .jsonl, .csv or .parquet")
    frame = pd.read_csv(path) if fmt == "csv" else pd.read_parquet(path)
    records = frame.astype(object).where(pd.notna(frame), None).to_dict(orient="records")
    for record in records:
        for column in ("retrieved_contexts", "unsupported_claims"):
            value = record.get(column)
            if isinstance(value, str):
                record[column] = json.loads(value)
            elif value is not None and not isinstance(value, list):
                record[column] = list(value)
    return records


def _scored_records(args: argparse.Namespace, rules: GateRules) -> list[dict]:
    if args.scored:
        return read_scored(args.scored)
    if args.data is None:
        raise GateError("give a dataset to score, or --scored results")
    if args.url:
        from .client import RagmeterClient, RagmeterError

        try:
            with RagmeterClient(args.url) as client:
                batch = client.upload(args.data, metrics=rules.metrics)
                status = client.wait(batch["id"])
                if status["status"] != "done":
                    raise GateError(f"batch {batch['id']} ended {status['status']}")
                body = client.results(batch["id"], "jsonl").decode()
        except RagmeterError as exc:
            raise GateError(str(exc)) from exc
        return [json.loads(line) for line in body.splitlines() if line.strip()]
    return score_in_process(args.data, rules)


def score_in_process(path: Path, rules: GateRules) -> list[dict]:
    try:
        records = read_upload(path.read_bytes(), path.name, needs_contexts=bool(set(rules.metrics) & NEEDS_CONTEXTS))
    except BadUpload as exc:
        raise GateError(f"{path}: {exc.describe()}") from exc
    return score_records(records, rules)


def score_records(records: list[dict], rules: GateRules) -> list[dict]:
    """Score sample records with the configured judge; flat scored records back."""
    from metrics import GateConfig

    from .local_scoring import NoJudge, score_samples

    samples = [Sample.model_validate(r) for r in records]
    try:
        results = score_samples(samples, rules.metrics, GateConfig(threshold=rules.threshold))
    except NoJudge as exc:
        raise GateError(str(exc)) from exc
    return [scored_record(i, {**record, **sample.model_dump()}, result)
            for i, (record, sample, result) in enumerate(zip(records, samples, results))]


# ---------------------------------------------------------------- outputs
def _label(record: dict) -> str:
    return str(record.get("id") if record.get("id") not in (None, "") else f"row {record.get('row')}")


def print_verdict(console: Console, verdict: str, n: int, results: list[RuleResult],
                  regressions: list[Regression]) -> None:
    table = Table(title=f"ragmeter gate: {verdict.upper()} ({n} samples)")
    for column in ("rule", "actual", "required", "result", "detail"):
        table.add_column(column)
    for r in results:
        table.add_row(r.name, "n/a" if r.actual is None else f"{r.actual:.4g}", r.required,
                      "[green]pass[/green]" if r.passed else "[red]FAIL[/red]", r.detail)
    for g in regressions:
        table.add_row(f"baseline.{g.metric}", f"{g.current_mean:.4g}", f"vs {g.baseline_mean:.4g} ({g.pairs} pairs)",
                      "[red]FAIL[/red]" if g.regressed else "[green]pass[/green]", g.verdict)
    console.print(table)
    for r in results:
        if not r.passed and r.failing_samples:
            console.print(f"[bold]{r.name}[/bold]: failing samples")
            for record in r.failing_samples[:10]:
                claims = record.get("unsupported_claims") or []
                console.print(f"  {_label(record)}: {record.get('user_input') or ''}"[:160], soft_wrap=True)
                for claim in claims[:3]:
                    console.print(f"    unsupported: {claim}", soft_wrap=True)
                if record.get("error"):
                    console.print(f"    error: {record['error']}", soft_wrap=True)


def as_json(verdict: str, records: list[dict], results: list[RuleResult], regressions: list[Regression]) -> dict:
    return {
        "verdict": verdict, "samples": len(records),
        "rules": [{"name": r.name, "actual": r.actual, "required": r.required, "passed": r.passed, "detail": r.detail,
                   "failing_samples": [{"id": _label(s), "unsupported_claims": s.get("unsupported_claims") or [],
                                        "error": s.get("error")} for s in r.failing_samples]} for r in results],
        "baseline": [vars(g) for g in regressions],
    }


def junit(results: list[RuleResult], regressions: list[Regression]) -> bytes:
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

    for r in results:
        case("ragmeter.rules", r.name, None if r.passed else f"{r.actual} (required {r.required}): {r.detail}")
        if not r.passed:
            for s in r.failing_samples:
                claims = "; ".join(s.get("unsupported_claims") or []) or s.get("error") or ""
                case(f"ragmeter.samples.{r.name}", _label(s), f"unsupported claims: {claims}" if claims else r.name)
    for g in regressions:
        case("ragmeter.baseline", g.metric, g.verdict if g.regressed else None)
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def markdown(verdict: str, n: int, results: list[RuleResult], regressions: list[Regression]) -> str:
    lines = [f"### ragmeter gate: {verdict.upper()} ({n} samples)", "", "| rule | actual | required | result |",
             "|---|---|---|---|"]
    lines += [f"| {r.name} | {r.actual} | {r.required} | {'pass' if r.passed else '**FAIL**'} |" for r in results]
    lines += [f"| baseline.{g.metric} | {g.current_mean} | vs {g.baseline_mean} | "
              f"{'**FAIL**' if g.regressed else 'pass'}: {g.verdict} |" for g in regressions]
    failing = [(r.name, s) for r in results if not r.passed for s in r.failing_samples[:10]]
    if failing:
        lines += ["", "Failing samples:"]
        lines += [f"- `{_label(s)}` ({name}): " + ("; ".join(s.get("unsupported_claims") or []) or s.get("error") or "")
                  for name, s in failing]
    return "\n".join(lines) + "\n\n"

