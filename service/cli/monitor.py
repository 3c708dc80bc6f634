"""`ragmeter monitor`: an app's metric over a recent window, bucket by bucket, from a running service."""
from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime, timedelta

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ragmeter.service.cli.errors import err, error
from ragmeter.service.cli.remote import num, service_options

UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def add_parser(commands) -> None:
    monitor = commands.add_parser("monitor", help="a metric of production records over a recent window, per bucket "
                                                  "(count, mean, p10, 95%% interval)")
    monitor.add_argument("--app", help="the app (default: the one that sent records most recently)")
    # The service checks the name (a 422 listing the known ones), so a series it adds needs no CLI change.
    monitor.add_argument("--metric", action="append",
                         help="faithfulness (the default), answer_relevancy, context_precision, context_recall or "
                              "gate_pass_rate; repeat for several")
    monitor.add_argument("--window", type=duration, default=timedelta(hours=24),
                         help="how far back from now: 90m, 24h, 7d or seconds (default 24h)")
    monitor.add_argument("--bucket", type=duration, help="bucket size, 1m or more (default: chosen from the window)")
    monitor.add_argument("--slice", action="append", default=[], metavar="FIELD=VALUE",
                         help="only records whose metadata FIELD is VALUE (repeat for several)")
    monitor.add_argument("--empty", action="store_true", help="also show buckets without records")
    service_options(monitor)


def duration(text: str) -> timedelta:
    """'90m', '24h', '7d', '1.5h' or plain seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not found or float(found[1]) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration such as 90m, 24h or 7d")
    return timedelta(seconds=float(found[1]) * UNITS_S[found[2] or "s"])


def run(args: argparse.Namespace) -> int:
    from ragmeter.service.client import RagmeterClient, RagmeterError

    where = []
    for item in args.slice:
        field, sep, value = item.partition("=")
        if not sep or not field:
            return error(f"--slice takes FIELD=VALUE, not {item!r}")
        where.append(f"{field}:{value}")
    end = datetime.now(UTC)
    params: dict = {"metric": args.metric or ["faithfulness"], "from": _iso(end - args.window), "to": _iso(end),
                    "where": where}
    if args.bucket:
        params["bucket"] = round(args.bucket.total_seconds())
    try:
        with RagmeterClient(args.url) as client:
            params["app"] = args.app or _latest_app(client)
            answer = client._json(client.http.get("/v1/monitor/series", params=params))
    except (RagmeterError, httpx.HTTPError) as exc:
        return error(exc)
    if args.json:
        print(json.dumps(answer, indent=1))
        return 0
    console = Console() if sys.stdout.isatty() else Console(width=200)
    for series in answer["series"]:
        console.print(series_table(answer, series, args.empty))
    if not any(s["count"] for s in answer["series"]):
        err.print(f"no scored records of app {answer['app']!r} in this window", soft_wrap=True)
    for note in answer.get("notes") or []:
        err.print(note, soft_wrap=True)
    return 0


def _latest_app(client) -> str:
    """The app that sent records most recently ("default" when none did); the others are named on stderr."""
    apps = [a["app"] for a in client._json(client.http.get("/v1/monitor/apps"))["apps"]]
    if len(apps) > 1:
        err.print(f"app {apps[0]!r}, the most recent of {len(apps)} (--app for another: {', '.join(apps[1:6])}"
                  f"{', ...' if len(apps) > 6 else ''})", soft_wrap=True)
    return apps[0] if apps else "default"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def series_table(answer: dict, series: dict, empty: bool) -> Table:
    """One series: a row per bucket (those with values unless `empty`), then the window's count."""
    where = "".join(f", {k}={v}" for k, v in answer["where"].items())
    group = f", {answer['group_by']}={series['group']}" if series.get("group") is not None else ""
    table = Table(title=escape(f"{series['metric']} of {answer['app']}{where}{group} "
                               f"({answer['bucket_s']} s buckets)"),
                  caption=f"{series['count']} values in the window")
    for column in ("bucket start", "count", "mean", "p10", "95% interval", "no value"):
        table.add_column(column, justify="left" if column == "bucket start" else "right")
    for bucket in series["buckets"]:
        if not (empty or bucket["count"] or bucket["nulls"]):
            continue
        interval = bucket["ci95"]
        table.add_row(bucket["start"], str(bucket["count"]), num(bucket["mean"]), num(bucket["p10"]),
                      "-" if interval is None else f"{interval[0]:.3f} – {interval[1]:.3f}", str(bucket["nulls"]))
    return table
