"""`ragmeter alerts add | list | show ID | delete ID`: alert rules on a running service (RAGMETER_API_KEY's tenant)."""
from __future__ import annotations

import argparse
import json

import httpx
from rich.table import Table

from ragmeter.service.cli.errors import err, error
from ragmeter.service.cli.remote import console, num, service_options



def add_parser(commands) -> None:
    alerts = commands.add_parser("alerts", help="add, list, show and delete alert rules on a running service")
    actions = alerts.add_subparsers(dest="action", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return service_options(actions.add_parser(name, help=help))

    add = action("add", "create a rule: fires when METRIC's mean over the window falls below THRESHOLD")
    add.add_argument("--metric", required=True, help="faithfulness, answer_relevancy, context_precision, "
                                                     "context_recall or gate_pass_rate")
    add.add_argument("--threshold", type=float, required=True, help="in [0, 1]")
    add.add_argument("--window", type=float, required=True, help="seconds of records in the window")
    add.add_argument("--min-count", type=int, default=10, help="scored records needed to evaluate (default 10)")
    add.add_argument("--app", help="watch one app (default: every app)")
    add.add_argument("--slice", action="append", default=[], metavar="FIELD=VALUE",
                     help="only records whose metadata FIELD is VALUE (repeat for several)")
    add.add_argument("--name", help='default "METRIC < THRESHOLD"')
    add.add_argument("--webhook", help="http(s) URL that receives each fired / recovered event")
    add.add_argument("--secret", help="HMAC key of the webhook body (16+ characters); generated when omitted")
    action("list", "every rule with its state and last window")
    show = action("show", "one rule with its recent events and their delivery")
    show.add_argument("id")
    delete = action("delete", "delete a rule and its events")
    delete.add_argument("id")


def run(args: argparse.Namespace) -> int:
    from ragmeter.service.client import RagmeterClient, RagmeterError

    try:
        with RagmeterClient(args.url) as client:
            http = client.http
            answer: dict | list
            if args.action == "add":
                body = _rule(args)
                if isinstance(body, int):
                    return body
                answer = client._json(http.post("/v1/alerts", json=body))
            elif args.action == "list":
                answer = client._json(http.get("/v1/alerts"))
            elif args.action == "show":
                answer = client._json(http.get(f"/v1/alerts/{_full_id(client, args.id)}"))
            else:
                args.id = _full_id(client, args.id)
                answer = client._json(http.delete(f"/v1/alerts/{args.id}"))
    except (RagmeterError, httpx.HTTPError) as exc:
        return error(exc)
    if args.json:
        print(json.dumps(answer, indent=1))
    elif isinstance(answer, list):
        console().print(_rules_table(answer))
    elif args.action == "add":
        console().print(_rules_table([answer]))
        err.print(f"rule {answer['id']} created; its webhook secret is shown once, store it now:", soft_wrap=True)
        print(answer["secret"])
    elif args.action == "show":
        console().print(_rules_table([answer]))
        console().print(_events_table(answer["events"]))
    else:
        err.print(f"deleted alert {args.id}", soft_wrap=True)
    return 0


def _full_id(client, given: str) -> str:
    """The id of the one rule whose id starts with `given` (the table shows 8 characters), else `given` unchanged."""
    found = [rule["id"] for rule in client._json(client.http.get("/v1/alerts")) if rule["id"].startswith(given)]
    return found[0] if len(found) == 1 else given


def _rule(args: argparse.Namespace) -> dict | int:
    slices = {}
    for item in args.slice:
        field, sep, value = item.partition("=")
        if not sep or not field:
            return error(f"--slice takes FIELD=VALUE, not {item!r}")
        slices[field] = value
    body = {"metric": args.metric, "threshold": args.threshold, "window_s": args.window, "min_count": args.min_count,
            "app": args.app, "slice": slices, "name": args.name, "webhook_url": args.webhook, "secret": args.secret}
    return {k: v for k, v in body.items() if v is not None}


def _rules_table(found: list[dict]) -> Table:
    table = Table(title="alert rules")
    for column in ("id", "name", "app", "metric", "below", "window s", "min", "state", "last value", "last count",
                   "webhook"):
        table.add_column(column)
    for rule in found:
        state = "[red]firing[/red]" if rule["state"] == "firing" else "[green]ok[/green]"
        app = rule["app"] or "(all)"
        if rule["slice"]:
            app += " " + ",".join(f"{k}={v}" for k, v in rule["slice"].items())
        table.add_row(rule["id"][:8], rule["name"], app, rule["metric"], f"{rule['threshold']:g}",
                      f"{rule['window_s']:g}", str(rule["min_count"]), state, num(rule["last_value"]),
                      "-" if rule["last_count"] is None else str(rule["last_count"]), rule["webhook_url"] or "-")
    return table


def _events_table(events: list[dict]) -> Table:
    table = Table(title="recent events")
    for column in ("time", "kind", "value", "count", "delivery", "attempts", "last error"):
        table.add_column(column)
    for event in events:
        delivery = event["delivery"]
        table.add_row(event["at"], event["kind"], num(event["value"]), str(event["count"]), delivery["status"],
                      str(delivery["attempts"]), delivery["last_error"] or "")
    return table
