"""`ragmeter score`: score a file with the configured judge in this process, or on a running service."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
from ragmeter.metrics import Sample, SampleResult, Usage
from ragmeter.metrics.diagnosis import diagnose
from ragmeter.metrics.registry import requiring
from rich.progress import Progress
from rich.table import Table

from ragmeter.service import rows as scored_rows
from ragmeter.service.eval_sets import BadUpload, read_file
from ragmeter.service.in_process import NoExecutor, NoJudge, score_samples
from ragmeter.service.rows import ScoredRow
from ragmeter.service.cli.errors import CommandError, err, error
from ragmeter.service.cli.remote import console


def read_samples(path: Path, metrics: list[str] | None, model: type[Sample] = Sample) -> list[Sample]:
    """The samples (or `model`'s subclass of them) of a local file for these metrics; CommandError says why it
    cannot be read."""
    try:
        return read_file(path, needs_contexts=bool(requiring("retrieved_contexts", metrics)), model=model)
    except OSError as exc:
        raise CommandError(str(exc)) from exc
    except BadUpload as exc:
        raise CommandError(f"{path}: {exc.describe()}") from exc


def run(args: argparse.Namespace) -> int:
    out_format = args.out.suffix.lstrip(".").lower() if args.out else ""
    if out_format and out_format not in scored_rows.MEDIA_TYPES:
        return error(f"--out must end in .jsonl, .csv or .parquet, not {args.out.name}")
    if args.url:
        return _score_remote(args, out_format)
    try:
        samples = read_samples(args.file, args.metrics)
    except CommandError as exc:
        return error(exc)
    try:
        results = score_samples(samples, args.metrics, executor=args.executor)
    except (NoJudge, NoExecutor) as exc:
        return error(exc)
    if args.out:
        rows = [ScoredRow.of(i, sample, result)
                for i, (sample, result) in enumerate(zip(samples, results, strict=True))]
        args.out.write_bytes(scored_rows.encode(rows, out_format))
        err.print(f"wrote {len(rows)} scored rows to {args.out}")
    if args.json:
        for result in results:
            print(result.model_dump_json())
    elif not args.out:
        rows = [ScoredRow.of(i, sample, result)
                for i, (sample, result) in enumerate(zip(samples, results, strict=True))]
        console().print(results_table(rows, args.metrics, results))
        print_diagnosis(rows)
    return 0


def _score_remote(args: argparse.Namespace, out_format: str) -> int:
    from ragmeter.service.client import RagmeterClient, RagmeterError

    try:
        with RagmeterClient(args.url) as client:
            batch = client.upload(args.file, metrics=args.metrics)
            with Progress(console=err) as progress:
                task = progress.add_task(f"batch {batch['id'][:8]}", total=batch["total"])
                status = client.wait(batch["id"], on_progress=lambda s: progress.update(task, completed=s["done"]))
            if status["status"] != "done":
                return error(f"batch {batch['id']} ended {status['status']}: {status.get('message') or ''}")
            if args.out:
                args.out.write_bytes(client.results(batch["id"], out_format))
                err.print(f"wrote {status['total']} scored rows to {args.out}")
            if args.json:  # the batch's summary (means, intervals, gate pass rate) as JSON
                print(json.dumps(client.summary(batch["id"]), indent=1))
            elif not args.out:  # the local run's table, from the downloaded rows
                body = client.results(batch["id"], "jsonl").decode()
                rows = [ScoredRow.model_validate_json(line) for line in body.splitlines() if line.strip()]
                console().print(results_table(rows, args.metrics))
                print_diagnosis(rows)
    except (OSError, RagmeterError, httpx.HTTPError) as exc:
        return error(exc)
    return 0


def print_diagnosis(rows: list[ScoredRow]) -> None:
    """The batch's diagnosis from the means of RAGChecker's metrics, when any was scored."""
    means = {}
    for metric in ScoredRow.model_fields:
        values = [s for r in rows if isinstance(s := getattr(r, metric), float)]
        means[metric] = sum(values) / len(values) if values else None
    findings = diagnose(means)
    if findings is not None:
        console().print("diagnosis: " + ("; ".join(findings) or "nothing stands out"), soft_wrap=True)


def results_table(rows: list[ScoredRow], metrics: list[str], results: list[SampleResult] | None = None) -> Table:
    """One line per row: scores, gate, unsupported claims. With the full `results` (a local run) each null score
    gives its reason, the claim count and the judge's usage are shown too."""
    table = Table(title="ragmeter scores")
    table.add_column("id")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("gate")
    table.add_column("unsupported", justify="right")
    table.add_column("first unsupported claim", no_wrap=True, overflow="ellipsis", max_width=60)
    usage = Usage()
    for i, row in enumerate(rows):
        result = results[i] if results is not None else None
        cells = [row.label]
        for metric in metrics:
            score = row.score(metric)
            reason = getattr(result.details, metric).reason if result is not None else row.error
            cells.append(f"{score:.3f}" if score is not None else f"null ({reason})" if reason else "null")
        cells.append("[green]pass[/green]" if row.gate_passed else "[red]FAIL[/red]")
        unsupported = row.unsupported_claims
        cells.append(f"{len(unsupported)}/{len(result.details.faithfulness.claims)}" if result is not None
                     else str(len(unsupported)))
        cells.append(unsupported[0] if unsupported else "")
        table.add_row(*cells)
        if result is not None:
            usage.add(result.usage)
    if results is not None:
        table.caption = (f"{usage.chat_calls} chat calls, {usage.cached_calls} cached, "
                         f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")
    return table
