"""`ragmeter compare-judges DATA --judges ragmeter,ragas`: two judges on the same rows, scores and cost side by side."""
from __future__ import annotations

import argparse
import asyncio
import html
import json
import sys
from pathlib import Path

from ragmeter.metrics import DEFAULT_METRICS, METRIC_NAMES
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ragmeter.service.analysis.judge_comparison import compare, run_judge
from ragmeter.service.judge_setup import JUDGE_CHOICES, NO_JUDGE, build_judge, judge_choices, judge_problem
from ragmeter.service.settings import Settings
from ragmeter.service.cli.errors import CommandError, err, error
from ragmeter.service.cli.score import read_samples


def add_parser(commands) -> None:
    parser = commands.add_parser("compare-judges", help="score the same rows with two judges and compare them")
    parser.add_argument("data", type=Path, help="CSV, JSONL, JSON or Parquet (Ragas or classic field names)")
    parser.add_argument("--judges", default="ragmeter,ragas",
                        help=f"two of {judge_choices()}; comma-separated, each labelled as given (default: "
                             "ragmeter,ragas)")
    parser.add_argument("--metrics", nargs="+", choices=METRIC_NAMES, default=list(DEFAULT_METRICS))
    parser.add_argument("--top", type=int, default=5, help="most-disagreeing rows shown per metric")
    parser.add_argument("--json", type=Path, help="also write the report as JSON")
    parser.add_argument("--html", type=Path, help="also write the report as an HTML page")


def run(args: argparse.Namespace) -> int:
    names = [n.strip() for n in args.judges.split(",") if n.strip()]
    if len(names) != 2 or any(n not in JUDGE_CHOICES for n in names):
        return error(f"--judges takes two of {judge_choices()}, e.g. ragmeter,ragas; got {args.judges!r}")
    try:
        samples = read_samples(args.data, args.metrics)
    except CommandError as exc:
        return error(exc)

    judges = []
    for name in names:
        settings = Settings(judge=name)
        if problem := judge_problem(settings):
            return error(problem)
        judge = build_judge(settings)
        if judge is None:
            return error(NO_JUDGE)
        judges.append((name, judge))

    async def both():
        runs = []
        try:
            for name, judge in judges:  # one after the other, so each wall time is its own
                err.print(f"scoring {len(samples)} rows with {name}...")
                runs.append(await run_judge(name, judge, samples, args.metrics))
        finally:
            for _, judge in judges:
                await judge.aclose()
        return runs

    first, second = asyncio.run(both())
    report = compare(first, second, samples, args.metrics, args.top)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
        err.print(f"wrote {args.json}")
    if args.html:
        args.html.write_text(as_html(report))
        err.print(f"wrote {args.html}")
    console = Console() if sys.stdout.isatty() else Console(width=200)
    print_report(report, console)
    return 0


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def metric_table(report: dict) -> Table:
    a, b = report["judges"]
    table = Table(title=f"{a} vs {b} on {report['rows']} rows (difference = {b} - {a})")
    for column in ("metric", f"mean {a}", f"mean {b}", "mean difference", "95% interval", "Pearson", "Spearman",
                   "scored by both"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for m in report["metrics"]:
        interval = "-" if m["interval_95"] is None else f"[{m['interval_95'][0]:.3f}, {m['interval_95'][1]:.3f}]"
        table.add_row(m["metric"], _fmt(m["mean"][a]), _fmt(m["mean"][b]), _fmt(m["mean_difference"]), interval,
                      _fmt(m["pearson"]), _fmt(m["spearman"]), str(m["scored_by_both"]))
    return table


def cost_table(report: dict) -> Table:
    table = Table(title="Cost of each judge")
    for column in ("judge", "chat calls", "per row", "prompt tokens", "per row", "wall s", "rows with errors"):
        table.add_column(column, justify="left" if column == "judge" else "right")
    n = max(1, report["rows"])
    for name, c in report["cost"].items():
        table.add_row(name, str(c["chat_calls"]), f"{c['chat_calls'] / n:.2f}", str(c["prompt_tokens"]),
                      f"{c['prompt_tokens'] / n:.0f}", f"{c['wall_s']:.1f}", str(c["samples_with_errors"]))
    return table


def print_report(report: dict, console: Console) -> None:
    console.print(metric_table(report))
    console.print(cost_table(report))
    a, b = report["judges"]
    for m in report["metrics"]:
        for d in m["disagreements"]:
            console.print(f"[bold]{m['metric']}[/bold] row {d['row']} ({escape(str(d['id']))}): "
                          f"{escape(d['question'])}")
            console.print(f"  {a} {_fmt(d[a]['score'])}: {d[a]['why']}", markup=False)
            console.print(f"  {b} {_fmt(d[b]['score'])}: {d[b]['why']}", markup=False)


def as_html(report: dict) -> str:
    """The report as one self-contained page: the two tables, then the disagreements per metric."""
    a, b = report["judges"]
    e = html.escape

    def table(head: list[str], rows: list[list]) -> str:
        cells = "".join(f"<tr>{''.join(f'<td>{e(_fmt(c))}</td>' for c in row)}</tr>" for row in rows)
        return f"<table><tr>{''.join(f'<th>{e(h)}</th>' for h in head)}</tr>{cells}</table>"

    metrics = table(["metric", f"mean {a}", f"mean {b}", f"mean difference ({b} - {a})", "95% interval",
                     "Pearson", "Spearman", "scored by both"],
                    [[m["metric"], m["mean"][a], m["mean"][b], m["mean_difference"],
                      "-" if m["interval_95"] is None else f"[{m['interval_95'][0]:.3f}, {m['interval_95'][1]:.3f}]",
                      m["pearson"], m["spearman"], m["scored_by_both"]] for m in report["metrics"]])
    cost = table(["judge", "chat calls", "prompt tokens", "completion tokens", "wall s", "rows with errors"],
                 [[name, c["chat_calls"], c["prompt_tokens"], c["completion_tokens"], c["wall_s"],
                   c["samples_with_errors"]] for name, c in report["cost"].items()])
    sections = []
    for m in report["metrics"]:
        rows = [[d["row"], d["id"], d["question"], d[a]["score"], d[a]["why"], d[b]["score"], d[b]["why"]]
                for d in m["disagreements"]]
        sections.append(f"<h3>{e(m['metric'])}: rows where they disagree most</h3>"
                        + table(["row", "id", "question", a, f"why ({a})", b, f"why ({b})"], rows))
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:4px 8px;vertical-align:top}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>ragmeter compare-judges: {e(a)} vs {e(b)}"
            f"</title><style>{style}</style></head><body><h1>{e(a)} vs {e(b)} on {report['rows']} rows</h1>"
            f"<h2>Scores</h2>{metrics}<h2>Cost</h2>{cost}<h2>Disagreements</h2>{''.join(sections)}</body></html>")
