"""`ragmeter compare A B`: is run B better than run A, on which metric, in which slice, and which rows moved."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ragmeter.metrics import METRIC_NAMES

from ragmeter.service.analysis import comparison_page, runs
from ragmeter.service.analysis.comparison import Comparison, compare_runs
from ragmeter.service.analysis.slices import parse_keys
from ragmeter.service.cli.errors import err, error

COLORS = {"better": "green", "worse": "red"}
SHOWN_CHANGES = 3


def add_parser(commands) -> None:
    compare = commands.add_parser("compare", help="compare two scored runs of the same evaluation set")
    compare.add_argument("baseline", help="scored results of the run to compare against (.jsonl, .csv, .parquet), "
                                          "or a batch id with --url")
    compare.add_argument("candidate", help="scored results of the new run, or a batch id with --url")
    compare.add_argument("--by", nargs="+", default=[], help="metadata keys to compare per slice of")
    compare.add_argument("--metrics", nargs="+", choices=METRIC_NAMES, help="metrics to compare (default: all scored)")
    compare.add_argument("--top", type=int, default=5, help="most changed rows shown each way, per metric")
    compare.add_argument("--min-effect", type=float, default=0.0,
                         help="a verdict also needs the mean to move more than this")
    compare.add_argument("--url", help="compare on a running ragmeter service (batch ids, or files uploaded)")
    compare.add_argument("--json", action="store_true", help="print the comparison as JSON")
    compare.add_argument("--html", type=Path, help="write the comparison page")


def run(args: argparse.Namespace) -> int:
    try:
        comparison = _remote(args) if args.url else _local(args)
    except (OSError, ValueError) as exc:
        return error(exc)
    if args.html:
        args.html.write_text(comparison_page.render(comparison), encoding="utf-8")
        err.print(f"wrote the comparison page to {args.html}")
    if args.json:
        print(comparison.model_dump_json(indent=1))
    else:
        print_comparison(Console() if sys.stdout.isatty() else Console(width=200), comparison)
    return 0


def _local(args: argparse.Namespace) -> Comparison:
    baseline, candidate = runs.file_run(Path(args.baseline)), runs.file_run(Path(args.candidate))
    return compare_runs(baseline, candidate, names=(Path(args.baseline).name, Path(args.candidate).name),
                        metrics=args.metrics, by=parse_keys(args.by), top=args.top, min_effect=args.min_effect)


def _remote(args: argparse.Namespace) -> Comparison:
    from ragmeter.service.client import RagmeterClient, RagmeterError

    try:
        with RagmeterClient(args.url) as client:
            body = client.compare(args.baseline, args.candidate, by=parse_keys(args.by) or None, top=args.top,
                                  min_effect=args.min_effect or None, metrics=args.metrics)
    except (RagmeterError, httpx.HTTPError) as exc:
        raise ValueError(str(exc)) from exc
    return Comparison.model_validate(body)


def _verdict(verdict: str) -> str:
    color = COLORS.get(verdict)
    return f"[{color}]{verdict}[/{color}]" if color else verdict


def print_comparison(console: Console, comparison: Comparison) -> None:
    """The metrics table, the slices table, then the rows that moved most with what flipped."""
    counts = comparison.rows
    table = Table(title=f"ragmeter compare: {comparison.baseline} -> {comparison.candidate}")
    for column in ("metric", "baseline", "candidate", "difference [95% CI]", "verdict", "pairs", "rows -/+"):
        table.add_column(column)
    for c in comparison.metrics:
        name = c.metric + (" (lower is better)" if c.better == "lower" else "")
        table.add_row(name, f"{c.baseline_mean:.4f}", f"{c.candidate_mean:.4f}",
                      f"{c.difference:+.4f} [{c.ci95[0]:+.4f}, {c.ci95[1]:+.4f}]", _verdict(c.verdict), str(c.pairs),
                      f"{c.rows_worse}/{c.rows_better}")
    table.caption = (f"{counts['paired']} rows paired; {counts['only_baseline']} only in the baseline, "
                     f"{counts['only_candidate']} only in the candidate, {counts['duplicate_ids']} rows with "
                     "repeated ids left out")
    console.print(table)
    for note in comparison.notes:
        console.print(f"note: {note.message}", markup=False)
    if comparison.slices:
        slices = Table(title=f"by {' x '.join(comparison.by)}")
        for column in ("slice", "pairs", *[c.metric for c in comparison.metrics]):
            slices.add_column(column)
        for s in comparison.slices:
            cells = {c.metric: f"{c.difference:+.3f} {_verdict(c.verdict)}" for c in s.metrics}
            label = ", ".join(f"{k}={v}" for k, v in s.key.items()) + (" (too few pairs)" if s.too_small else "")
            slices.add_row(escape(label), str(s.pairs), *[cells.get(c.metric, "n/a") for c in comparison.metrics])
        console.print(slices)
    for metric, sides in comparison.top_changed.items():
        for direction in ("worse", "better"):
            if not sides[direction]:
                continue
            console.print(f"[bold]{metric}: most {direction}[/bold]")
            for r in sides[direction]:
                console.print(f"  {escape(r.id)} {r.difference:+.3f}: {escape(r.question[:100])}", soft_wrap=True)
                for change in r.changes[:SHOWN_CHANGES] or [f"was: {r.baseline.why}", f"now: {r.candidate.why}"]:
                    console.print(f"    {escape(change[:200])}", soft_wrap=True)

