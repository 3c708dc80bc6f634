"""The `ragmeter` command: serve the API, score a file (in-process or on a service), measure accuracy."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

import httpx

from metrics import METRIC_NAMES, Sample, SampleResult, Usage
from metrics.types import NEEDS_CONTEXTS

from . import gate_cli
from .batch_input import BadUpload, read_upload
from .batch_output import MEDIA_TYPES, encode, scored_record
from .judges import NO_JUDGE, build_judge
from .local_scoring import NoJudge, score_samples
from .settings import Settings

err = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ragmeter", description="RAG evaluation: Ragas metrics with evidence.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)

    score = commands.add_parser("score", help="score a file of samples with the configured judge")
    score.add_argument("file", type=Path, help="CSV, JSONL, JSON or Parquet (Ragas or classic field names)")
    score.add_argument("--metrics", nargs="+", choices=METRIC_NAMES, default=list(METRIC_NAMES))
    score.add_argument("--json", action="store_true", help="print one JSON result per line instead of a table")
    score.add_argument("--out", type=Path, help="write the scored rows; .jsonl, .csv or .parquet")
    score.add_argument("--url", help="upload to a running ragmeter service and follow the job there")

    accuracy = commands.add_parser("accuracy", help="agreement of the gate and context metrics with labelled data")
    accuracy.add_argument("file", type=Path, help="JSONL with label_hallucinated or context_is_gold")
    accuracy.add_argument("--split", choices=["all", "train", "holdout"], default="all",
                          help="rows of the support scorer's training part, its held-out part, or all")
    accuracy.add_argument("--limit", type=int, default=None, help="score only the first N rows")

    gate_cli.add_parser(commands)

    args = parser.parse_args(argv)
    if args.command == "serve":
        import uvicorn

        from .app import create_app

        uvicorn.run(create_app(), host=args.host, port=args.port)
        return 0
    if args.command == "accuracy":
        return _accuracy(args)
    if args.command == "gate":
        return gate_cli.run(args)
    return _score(args)


def _error(message: object) -> int:
    """Print an error on stderr; exit status 2 means bad usage or no judge."""
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)
    return 2


def _accuracy(args: argparse.Namespace) -> int:
    from . import accuracy

    try:
        rows = accuracy.read_rows(args.file, args.split, args.limit)
    except (OSError, ValueError) as exc:
        return _error(exc)
    if not rows:
        return _error("no rows to score")
    settings = Settings()
    judge = build_judge(settings)
    if judge is None:
        return _error(NO_JUDGE)

    async def run() -> dict:
        try:
            if "label_hallucinated" in rows[0]:
                report = await accuracy.hallucination_report(rows, judge, settings.hallucination_threshold)
            elif "context_is_gold" in rows[0]:
                report = await accuracy.context_report(rows, judge)
            else:
                raise ValueError("rows carry neither label_hallucinated nor context_is_gold")
        finally:
            await judge.aclose()
        return {"file": args.file.name, "split": args.split, "judge": judge.info.model_dump(), **report}

    try:
        report = asyncio.run(run())
    except ValueError as exc:
        return _error(exc)
    print(json.dumps(report, indent=1))
    return 0


def _score(args: argparse.Namespace) -> int:
    out_format = args.out.suffix.lstrip(".").lower() if args.out else None
    if out_format and out_format not in MEDIA_TYPES:
        return _error(f"--out must end in .jsonl, .csv or .parquet, not {args.out.name}")
    if args.url:
        return _score_remote(args, out_format)
    try:
        records = read_upload(args.file.read_bytes(), args.file.name,
                              needs_contexts=bool(set(args.metrics) & NEEDS_CONTEXTS))
    except OSError as exc:
        return _error(exc)
    except BadUpload as exc:
        return _error(f"{args.file}: {exc.describe()}")
    try:
        results = score_samples([Sample.model_validate(r) for r in records], args.metrics)
    except NoJudge as exc:
        return _error(exc)
    if args.out:
        rows = [scored_record(i, record, result) for i, (record, result) in enumerate(zip(records, results))]
        args.out.write_bytes(encode(rows, out_format))
        err.print(f"wrote {len(rows)} scored rows to {args.out}")
    if args.json:
        for result in results:
            print(result.model_dump_json())
    elif not args.out:
        Console().print(results_table(results, args.metrics))
    return 0


def _score_remote(args: argparse.Namespace, out_format: str | None) -> int:
    from .client import RagmeterClient, RagmeterError

    try:
        with RagmeterClient(args.url) as client:
            batch = client.upload(args.file, metrics=args.metrics)
            with Progress(console=err) as progress:
                task = progress.add_task(f"batch {batch['id'][:8]}", total=batch["total"])
                status = client.wait(batch["id"], on_progress=lambda s: progress.update(task, completed=s["done"]))
            if status["status"] != "done":
                return _error(f"batch {batch['id']} ended {status['status']}: {status.get('message') or ''}")
            if args.out:
                args.out.write_bytes(client.results(batch["id"], out_format))
                err.print(f"wrote {status['total']} scored rows to {args.out}")
            print(json.dumps(client.summary(batch["id"]), indent=1))
    except (OSError, RagmeterError, httpx.HTTPError) as exc:
        return _error(exc)
    return 0


def results_table(results: list[SampleResult], metrics: list[str]) -> Table:
    table = Table(title="ragmeter scores")
    table.add_column("id")
    for metric in metrics:
        table.add_column(metric, justify="right")
    table.add_column("gate")
    table.add_column("unsupported", justify="right")
    table.add_column("first unsupported claim", no_wrap=True, overflow="ellipsis", max_width=60)
    usage = Usage()
    for i, result in enumerate(results):
        usage.add(result.usage)
        row = [str(result.id if result.id is not None else i)]
        for metric in metrics:
            value = getattr(result.scores, metric)
            reason = getattr(result.details, metric).reason
            row.append(f"{value:.3f}" if value is not None else f"null ({reason})")
        row.append("[green]pass[/green]" if result.gate.passed else "[red]FAIL[/red]")
        unsupported = result.gate.unsupported_claims
        row.append(f"{len(unsupported)}/{len(result.details.faithfulness.claims)}")
        row.append(unsupported[0] if unsupported else "")
        table.add_row(*row)
    table.caption = (f"{usage.chat_calls} chat calls, {usage.cached_calls} cached, "
                     f"{usage.prompt_tokens} prompt + {usage.completion_tokens} completion tokens")
    return table


if __name__ == "__main__":
    sys.exit(main())
