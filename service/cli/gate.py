"""`ragmeter gate`: score a dataset (or read scored results), apply the rules, say pass or fail (exit 0/1/2)."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console

from ragmeter.metrics import GateConfig
from ragmeter.metrics.registry import requiring

from ragmeter.service import rows as scored_rows
from ragmeter.service.eval_sets import BadUpload, read_file
from ragmeter.service.ci.reporters import as_json, junit, markdown, print_verdict
from ragmeter.service.ci.rules import GateRules, load_rules
from ragmeter.service.ci.verdict import ExitCode, judge_rows
from ragmeter.service.rows import ScoredRow


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
        rows = _scored_rows(args, rules)
        baseline = scored_rows.read(args.baseline) if args.baseline else None
    except (GateError, OSError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        return ExitCode.ERROR
    if args.out:
        args.out.write_bytes(scored_rows.encode(rows, args.out.suffix.lstrip(".") or "jsonl"))
    verdict = judge_rows(rows, rules, baseline)
    if args.json:
        print(json.dumps(as_json(verdict), indent=1, default=str))
    else:
        print_verdict(console, verdict)
    if args.junit:
        args.junit.write_bytes(junit(verdict))
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as summary:
            summary.write(markdown(verdict))
    return verdict.code


def _scored_rows(args: argparse.Namespace, rules: GateRules) -> list[ScoredRow]:
    if args.scored:
        return scored_rows.read(args.scored)
    if args.data is None:
        raise GateError("give a dataset to score, or --scored results")
    if args.url:
        return _score_remote(args.url, args.data, rules)
    try:
        samples = read_file(args.data, needs_contexts=bool(requiring("retrieved_contexts", rules.scored_metrics)))
    except BadUpload as exc:
        raise GateError(f"{args.data}: {exc.describe()}") from exc
    from ragmeter.service.in_process import NoJudge, score_rows
    from ragmeter.service.settings import settings_for

    try:
        # --config's [embedded] claim_cutoff applies as its [gate] threshold does
        return score_rows(samples, rules.scored_metrics, GateConfig(threshold=rules.threshold),
                          settings_for(args.config))
    except NoJudge as exc:
        raise GateError(str(exc)) from exc


def _score_remote(url: str, data: Path, rules: GateRules) -> list[ScoredRow]:
    from ragmeter.service.client import RagmeterClient, RagmeterError

    try:
        with RagmeterClient(url) as client:
            batch = client.upload(data, metrics=rules.scored_metrics)
            status = client.wait(batch["id"])
            if status["status"] != "done":
                raise GateError(f"batch {batch['id']} ended {status['status']}")
            body = client.results(batch["id"], "jsonl").decode()
    except RagmeterError as exc:
        raise GateError(str(exc)) from exc
    return [ScoredRow.model_validate_json(line) for line in body.splitlines() if line.strip()]
