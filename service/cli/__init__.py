"""The `ragmeter` command: serve the API, score a file, gate a CI build, measure accuracy, manage API keys, send and
watch production records."""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError
from ragmeter.metrics import DEFAULT_METRICS, METRIC_NAMES
from ragmeter.metrics.judges.registry import choices as judge_choices

# What --help says about the two settings most often confused.
SETTINGS_HELP = (f"The judge is RAGMETER_JUDGE: auto (the default), {judge_choices()}. RAGMETER_EXECUTOR=local|process|"
                 "ray picks who scores batch rows and records and is unrelated to the judge.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ragmeter", description="RAG evaluation: Ragas metrics with evidence.",
                                     epilog=SETTINGS_HELP)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API", epilog=SETTINGS_HELP)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])

    score = commands.add_parser("score", help="score a file of samples with the configured judge",
                                epilog=SETTINGS_HELP)
    score.add_argument("file", type=Path, help="CSV, JSONL, JSON or Parquet (Ragas or classic field names)")
    score.add_argument("--metrics", nargs="+", choices=METRIC_NAMES, default=list(DEFAULT_METRICS))
    score.add_argument("--json", action="store_true", help="print one JSON result per line instead of a table")
    score.add_argument("--out", type=Path, help="write the scored rows; .jsonl, .csv or .parquet")
    score.add_argument("--url", help="upload to a running ragmeter service and follow the job there")
    score.add_argument("--executor", choices=["local", "ray"],
                       help="score here (local) or on Ray workers (ray: RAY_ADDRESS, else a local Ray); "
                            "default RAGMETER_EXECUTOR")

    accuracy = commands.add_parser("accuracy", help="agreement of the gate and context metrics with labelled data")
    accuracy.add_argument("file", type=Path, help="JSONL with label_hallucinated or context_is_gold")
    accuracy.add_argument("--split", choices=["all", "train", "holdout"], default="all",
                          help="rows of the support scorer's training part, its held-out part, or all")
    accuracy.add_argument("--limit", type=int, default=None, help="score only the first N rows")

    from ragmeter.service.cli import (alerts, calibrate, compare, compare_judges, db, gate, jobs, keys, monitor,
                                      records)

    gate.add_parser(commands)
    keys.add_parser(commands)
    db.add_parser(commands)
    jobs.add_parser(commands)
    compare_judges.add_parser(commands)
    compare.add_parser(commands)
    calibrate.add_parser(commands)
    alerts.add_parser(commands)
    records.add_parser(commands)
    monitor.add_parser(commands)

    args = parser.parse_args(argv)
    try:
        return _run(args)
    except (SettingsError, ValidationError) as exc:
        if isinstance(exc, ValidationError) and exc.title != "Settings":
            raise
        from ragmeter.service.cli.errors import error

        return error(f"a RAGMETER_* setting is invalid: {str(exc).splitlines()[0]} ({_first_problem(exc)})")


def _first_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError) and exc.errors():
        problem = exc.errors()[0]
        return f"RAGMETER_{str(problem['loc'][0]).upper()}: {problem['msg']}"
    return str(exc.__cause__ or "see the variable's format in docs/configuration.md")


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        import uvicorn

        from ragmeter.service.server.app import create_app
        from ragmeter.service.server.batches.store import url_problem
        from ragmeter.service.judge_setup import judge_problem
        from ragmeter.service.logs import log_config
        from ragmeter.service.settings import Settings
        from ragmeter.service.server.slow_clients import uvicorn_options
        from ragmeter.service.server.tenancy import open_network_problem
        from ragmeter.service.cli.errors import error

        settings = Settings()
        if problem := url_problem(settings.db):
            return error(problem)
        if problem := open_network_problem(args.host, settings):
            return error(problem)
        if problem := judge_problem(settings):
            return error(problem)
        # uvicorn annotates the timeout as int but takes seconds as a float (asyncio timers).
        uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=log_config(args.log_level.upper()),
                    timeout_graceful_shutdown=settings.shutdown_grace_s,  # type: ignore[arg-type]
                    **uvicorn_options(settings))
        return 0
    # Each command's module is imported only when it runs: `ragmeter --help` stays fast.
    module = importlib.import_module(f".{COMMAND_MODULES.get(args.command, 'score')}", __package__)
    return module.run(args)


COMMAND_MODULES = {"accuracy": "accuracy", "gate": "gate", "compare-judges": "compare_judges",
                   "calibrate": "calibrate", "compare": "compare", "keys": "keys", "db": "db",
                   "jobs": "jobs", "score": "score", "alerts": "alerts", "records": "records",
                   "monitor": "monitor"}


if __name__ == "__main__":
    sys.exit(main())
