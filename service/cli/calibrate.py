"""`ragmeter calibrate LABELLED --target precision=0.9`: the gate threshold your own labelled rows call for."""
from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from ragmeter.metrics import Sample
from ragmeter.metrics.metric_score import NO_CLAIMS

from ragmeter.service.analysis.accuracy.reports import hallucination_score
from ragmeter.service.eval_sets import BadUpload, read_file
from ragmeter.service.analysis import calibration_page
from ragmeter.service.analysis.calibration import (Calibration, Target, TooFewRows, calibrate, calibrate_with_cutoff,
                                      parse_label)
from ragmeter.service.config_file import write_threshold
from ragmeter.service.in_process import NoJudge, score_samples
from ragmeter.service.judge_setup import judge_kind
from ragmeter.service.settings import Settings
from ragmeter.service.cli.errors import err, error


def add_parser(commands) -> None:
    parser = commands.add_parser("calibrate", help="choose the gate threshold from rows labelled hallucinated or not")
    parser.add_argument("file", type=Path, help="CSV, JSONL, JSON or Parquet with a label column")
    parser.add_argument("--target", default="balanced",
                        help="precision=P (most hallucinations caught with at least P of blocks right), recall=R "
                             "(fewest false alarms while catching R of hallucinations) or balanced (default)")
    parser.add_argument("--label", default="label_hallucinated",
                        help="the label column: true/1/yes/hallucinated or false/0/no/faithful")
    parser.add_argument("--write", type=Path, metavar="TOML",
                        help="store the threshold in ragmeter.toml ([gate] threshold; with the embedded judge also "
                             "[embedded] claim_cutoff) for the gate and the service")
    parser.add_argument("--html", type=Path, help="write a page with the precision/recall curve")
    parser.add_argument("--png", type=Path, help="write the precision/recall curve as a PNG (needs matplotlib)")
    parser.add_argument("--json", action="store_true", help="print the calibration as JSON")


def labelled(path: Path, column: str) -> tuple[list[Sample], list[bool]]:
    """The rows and their labels; raises ValueError naming rows whose label is missing or unreadable."""
    samples = read_file(path, needs_contexts=True)
    labels: list[bool] = []
    bad: list[str] = []
    for i, sample in enumerate(samples):
        label = parse_label(sample.metadata.get(column))
        if label is None:
            bad.append(f"row {i + 1} ({sample.metadata.get(column)!r})")
        else:
            labels.append(label)
    if bad:
        raise ValueError(f"{path}: {len(bad)} rows have no readable {column!r} label (true/false, 1/0, yes/no, "
                         f"hallucinated/faithful): {', '.join(bad[:10])}")
    return samples, labels


def run(args: argparse.Namespace) -> int:
    try:
        target = Target.parse(args.target)
        samples, labels = labelled(args.file, args.label)
    except (OSError, ValueError) as exc:
        return error(exc)
    except BadUpload as exc:
        return error(f"{args.file}: {exc.describe()}")
    settings = Settings()
    by_cutoff = judge_kind(settings) == "embedded"
    try:
        # The embedded judge scores at cut-off 1.0: every claim then gets the rewording check that any cut-off
        # above its probability would give it, so "supported at cut-off c" is exactly "probability >= c".
        results = score_samples(samples, ["faithfulness"], settings=Settings(embedded_claim_cutoff=1.0)) \
            if by_cutoff else score_samples(samples, ["faithfulness"])
    except NoJudge as exc:
        return error(exc)
    judge = results[0].judge if results else None
    claims = claim_probabilities(results) if by_cutoff else None
    try:
        if claims is not None:
            kept = [(p, y) for p, y in zip(claims, labels, strict=True) if p is not None]
            if failed := len(samples) - len(kept):
                err.print(f"{failed} rows are left out: their faithfulness is null (a judge error) or the judge "
                          "abstained on a claim (not English)")
            from ragmeter.metrics.judges.embedded.support import SupportModel

            result = calibrate_with_cutoff([p for p, _ in kept], [y for _, y in kept], target,
                                           SupportModel.load().claim_cutoff)
        else:
            scored = [(s, y) for r, y in zip(results, labels, strict=True) if (s := hallucination_score(r)) is not None]
            if failed := len(samples) - len(scored):
                err.print(f"{failed} rows have no hallucination score (faithfulness null: a judge error, or the "
                          "judge abstained) and are left out")
            result = calibrate([s for s, _ in scored], [y for _, y in scored], target)
    except TooFewRows as exc:
        return error(f"cannot calibrate on {args.file}: {exc}")
    title = f"ragmeter calibrate {args.file.name} --target {target} ({judge.name if judge else '?'} judge" + \
        ("" if result.claim_cutoff is None else f", claim cut-off {result.claim_cutoff}") + ")"
    if args.html:
        args.html.write_text(calibration_page.render(result, title), encoding="utf-8")
        err.print(f"wrote the precision/recall page to {args.html}")
    if args.png:
        try:
            calibration_page.write_png(result, args.png, title)
            err.print(f"wrote the precision/recall curve to {args.png}")
        except ImportError:
            err.print("--png needs matplotlib (pip install matplotlib); use --html for the curve without it")
    if args.json:
        print(result.model_dump_json(indent=1))
    else:
        print_calibration(Console() if sys.stdout.isatty() else Console(width=200), result, title)
    if not result.met:
        return error(f"no threshold meets {target} on these rows; nothing written")
    if args.write:
        provenance = {"file": str(args.file), "target": str(target), "rows": result.rows,
                      "judge": judge_kind(Settings()), "judge_model": judge.model if judge and judge.model else "",
                      "precision": result.point.precision or 0.0, "recall": result.point.recall,
                      **({"claim_cutoff": result.claim_cutoff} if result.claim_cutoff is not None else {}),
                      "date": datetime.now(UTC).strftime("%Y-%m-%d")}
        try:
            write_threshold(args.write, result.point.threshold, provenance, result.claim_cutoff)
        except (OSError, ValueError) as exc:
            return error(exc)
        err.print(f"wrote threshold = {result.point.threshold} to \\[gate] in {args.write}"
                  + ("" if result.claim_cutoff is None
                     else f" and claim_cutoff = {result.claim_cutoff} to \\[embedded]"))
    return 0


def claim_probabilities(results) -> list[np.ndarray | None] | None:
    """Each row's claim probabilities (None for a row to leave out), or None when the judge gives none."""
    rows: list[np.ndarray | None] = []
    for result in results:
        faith = result.details.faithfulness
        if faith.score is None and faith.reason != NO_CLAIMS or any(c.abstained for c in faith.claims):
            rows.append(None)
        elif any(c.probability is None for c in faith.claims):
            return None
        else:
            rows.append(np.array([c.probability for c in faith.claims], dtype=float))
    return rows


def print_calibration(console: Console, result: Calibration, title: str) -> None:
    p = result.point
    console.print(f"[bold]{title}[/bold]")
    console.print(f"{result.rows} rows: {result.hallucinated} labelled hallucinated, {result.faithful} faithful")
    verdict = "meets the target" if result.met else "[red]does NOT meet the target[/red] (closest threshold shown)"
    console.print(f"threshold [bold]{p.threshold}[/bold] {verdict}")
    if result.claim_cutoff is not None:
        console.print(f"  with the embedded judge's claim cut-off [bold]{result.claim_cutoff}[/bold] (a claim is "
                      f"supported at probability >= it; the weights' own: {result.own_claim_cutoff})")
    precision_ci = result.precision_ci95
    console.print("  precision " + ("n/a" if p.precision is None else f"{p.precision:.3f}")
                  + ("" if precision_ci is None else f" (95% CI {precision_ci[0]:.3f}-{precision_ci[1]:.3f})")
                  + f", recall {p.recall:.3f} (95% CI {result.recall_ci95[0]:.3f}-{result.recall_ci95[1]:.3f}), "
                  f"balanced accuracy {p.balanced_accuracy:.3f}")
    matrix = Table(title=f"confusion matrix at {p.threshold} (on the rows it was chosen on)")
    for column in ("", "blocked", "passed"):
        matrix.add_column(column)
    matrix.add_row("labelled hallucinated", str(p.tp), str(p.fn))
    matrix.add_row("labelled faithful", str(p.fp), str(p.tn))
    console.print(matrix)
    curve = Table(title="precision / recall by threshold" + (
        "" if result.claim_cutoff is None else f" at claim cut-off {result.claim_cutoff}"))
    for column in ("threshold", "blocked", "precision", "recall", "balanced acc."):
        curve.add_column(column, justify="right")
    for q in result.curve:
        curve.add_row(str(q.threshold), str(q.flagged), "n/a" if q.precision is None else f"{q.precision:.3f}",
                      f"{q.recall:.3f}", f"{q.balanced_accuracy:.3f}")
    console.print(curve)

