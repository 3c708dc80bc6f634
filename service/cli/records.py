"""`ragmeter records send FILE | list | show ID`: production answers on a running service (RAGMETER_API_KEY)."""
from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from datetime import UTC, datetime
from pathlib import Path

import httpx
from ragmeter.metrics import DEFAULT_METRICS, METRIC_NAMES
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from ragmeter.service.cli.errors import CommandError, err, error
from ragmeter.service.cli.remote import console, num, service_options
from ragmeter.service.rows import RowStatus

# A 429 asking for a longer wait (a daily quota) stops the command rather than leave it hanging for hours.
DEFAULT_MAX_WAIT_S = 600.0
# A batch is sent again after a 502, 503 or 504 or a lost connection, this many times, 1, 2, 4 then 8 s apart (or
# as Retry-After asks): a restarting service or a proxy's hiccup should not end a backfill of a million rows.
RETRIES = 4
RESENT = frozenset({502, 503, 504})


def add_parser(commands) -> None:
    records = commands.add_parser("records", help="send production answers from a file; list and show the stored "
                                                  "records of a running service")
    actions = records.add_subparsers(dest="action", required=True)

    def action(name: str, help: str) -> argparse.ArgumentParser:
        return service_options(actions.add_parser(name, help=help))

    send = action("send", "backfill a file of production answers to POST /v1/records, in batches")
    send.add_argument("file", type=Path, help="CSV, JSONL, JSON or Parquet: question / contexts / answer, optional "
                                              "id, timestamp, trace_id, app; other columns become metadata")
    send.add_argument("--app", help='the app of rows that name none (default "default")')
    send.add_argument("--batch", type=int, default=100, help="records per request (default 100)")
    send.add_argument("--metrics", nargs="+", choices=METRIC_NAMES, metavar="METRIC",
                      help=f"metrics to compute: {', '.join(METRIC_NAMES)} (default the four Ragas metrics)")
    send.add_argument("--max-wait", type=float, default=DEFAULT_MAX_WAIT_S,
                      help=f"longest Retry-After waited on a 429 or 503, in seconds (default {DEFAULT_MAX_WAIT_S:g}); "
                           f"a 502, 503, 504 or lost connection is retried {RETRIES} times")
    listing = action("list", "the latest records with their scores and gate verdict, newest first")
    listing.add_argument("--app", help="only this app's records")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--status", choices=[s.value for s in RowStatus], help="only records in this state")
    which.add_argument("--failing", action="store_true", help="only scored records whose gate failed, with their "
                                                              "unsupported claims")
    listing.add_argument("--limit", type=int, default=20, help="most records shown (default 20)")
    show = action("show", "one record: its sample, scores, gate verdict and the claims its contexts do not support")
    show.add_argument("id", help="the record's id, as ragmeter gave it; with --app, your own id or a trace's id")
    show.add_argument("--app", help="look ID up as the id you sent in this app (for OTLP records: the trace id, in "
                                    "the app named by service.name)")


def run(args: argparse.Namespace) -> int:
    from ragmeter.service.client import RagmeterClient, RagmeterError

    try:
        with RagmeterClient(args.url) as client:
            if args.action == "send":
                return _send(client, args)
            if args.action == "list" and args.failing:
                params = {"app": args.app, "limit": args.limit}
                answer = client._json(client.http.get("/v1/monitor/failures", params=_given(params)))
            elif args.action == "list":
                params = {"app": args.app, "status": args.status, "limit": args.limit}
                answer = client._json(client.http.get("/v1/records", params=_given(params)))
            elif args.app is not None:
                found = client._json(client.http.get("/v1/records", params={"app": args.app, "id": args.id}))
                if not found["records"]:
                    raise CommandError(f"no record with id {args.id!r} in app {args.app!r}")
                answer = client._json(client.http.get(f"/v1/records/{found['records'][0]['id']}"))
            else:
                answer = client._json(client.http.get(f"/v1/records/{args.id}"))
    except (RagmeterError, httpx.HTTPError, CommandError) as exc:
        return error(exc)
    if args.json:
        print(json.dumps(answer, indent=1))
    elif args.action == "list" and args.failing:
        console().print(failures_table(answer["failures"]))
    elif args.action == "list":
        console().print(records_table(answer["records"]))
    else:
        print_record(console(), answer)
    return 0


def _given(params: dict) -> dict:
    return {k: v for k, v in params.items() if v is not None}


@dataclass
class Totals:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    sampled_out: int = 0

    def add(self, answer: dict, n: int) -> None:
        self.sent += n
        self.accepted += answer["accepted"]
        self.duplicates += answer.get("duplicates", 0)
        self.sampled_out += answer.get("sampled_out", 0)

    def line(self) -> str:
        return (f"{self.sent} records sent: {self.accepted} accepted, {self.duplicates} duplicates, "
                f"{self.sampled_out} sampled out")


def _send(client, args: argparse.Namespace) -> int:
    from ragmeter.service.cli.score import read_samples
    from ragmeter.service.server.traffic.ingest import RecordIn

    if args.batch < 1:
        return error("--batch must be at least 1")
    rows = read_samples(args.file, args.metrics or list(DEFAULT_METRICS), model=RecordIn)
    records = [row.model_dump(mode="json", exclude_none=True) for row in rows]
    totals = Totals()
    try:
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task(f"sending {args.file.name}", total=len(records))
            for start in range(0, len(records), args.batch):
                batch = records[start:start + args.batch]
                body = _given({"records": batch, "app": args.app, "metrics": args.metrics})
                totals.add(post_batch(client.http, body, start, args.max_wait), len(batch))
                progress.update(task, completed=totals.sent)
    except (CommandError, httpx.HTTPError):
        err.print(f"stopped; {totals.line()} (records with an id can be sent again: they are not stored twice)",
                  soft_wrap=True)
        raise
    if args.json:
        print(json.dumps(asdict(totals)))
    else:
        print(totals.line())
    return 0


def post_batch(http: httpx.Client, body: dict, first_row: int, max_wait_s: float) -> dict:
    """POST one batch, sending it again after each 429's Retry-After and, up to RETRIES times, after a 502, 503, 504
    or a lost connection (records with an id are not stored twice)."""
    rows = f"rows {first_row + 1}-{first_row + len(body['records'])}"
    failures = 0
    while True:
        try:
            response: httpx.Response | None = http.post("/v1/records", json=body)
        except httpx.TransportError as problem:
            response, what = None, f"{type(problem).__name__}: {problem}"
        if response is not None and response.status_code == 429:
            wait_s = retry_after(response)
            if wait_s > max_wait_s:
                raise CommandError(f"the service asks to wait {wait_s:.0f} s, more than --max-wait {max_wait_s:g} s: "
                                   f"{_detail(response)}")
            err.print(f"429, waiting {wait_s:.0f} s as asked: {_detail(response)}", soft_wrap=True)
            pause(wait_s)
            continue
        if response is not None and response.status_code not in RESENT:
            break
        if response is not None:
            what = f"HTTP {response.status_code}: {_detail(response)}"
        # The service's own 503s store nothing. After a proxy's 502 or 504, or a lost connection, the batch may have
        # been stored: only records with an id are safe to send again (a second copy is a duplicate, not a record).
        if not (response is not None and response.status_code == 503) and not all("id" in r for r in body["records"]):
            raise CommandError(f"{what} for {rows}; not sent again, as its records without an id could be stored "
                               "twice (give every row an id to let the command retry)")
        failures += 1
        if failures > RETRIES:
            raise CommandError(f"{what} for {rows}, {RETRIES} times sent again")
        asked = response is not None and "retry-after" in response.headers
        wait_s = retry_after(response) if response is not None and asked else float(2 ** (failures - 1))
        if wait_s > max_wait_s:
            who = "the service asks to wait" if asked else "the next try would be in"
            raise CommandError(f"{what} for {rows}; {who} {wait_s:.0f} s, more than --max-wait {max_wait_s:g} s")
        err.print(f"{what}; sending {rows} again in {wait_s:.0f} s ({failures} of {RETRIES})", soft_wrap=True)
        pause(wait_s)
    if response.status_code == 422:
        raise CommandError(f"the service refused {rows}: "
                           f"{refused_rows(response.json().get('detail'), body['records'], first_row)}")
    if response.status_code == 413:
        raise CommandError(f"{rows}: {_detail(response)} (a smaller --batch)")
    if response.is_error:
        raise CommandError(f"HTTP {response.status_code} for {rows}: {_detail(response)}")
    return response.json()


def pause(seconds: float) -> None:
    """Wait before a batch is sent again (tests replace it)."""
    time.sleep(seconds)


def retry_after(response: httpx.Response) -> float:
    """Retry-After in seconds (delta-seconds or an HTTP date); 1 s when absent or unreadable."""
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return 1.0


def refused_rows(detail: object, batch: list[dict], first_row: int) -> str:
    """A 422's problems with the file row (1-based) and id of each: 'row 7 (id a-7): response: must not be empty'."""
    if not isinstance(detail, list):
        return json.dumps(detail)
    problems = []
    for problem in detail:
        loc = [str(p) for p in problem.get("loc", [])][1:]  # past "body"
        where = ".".join(loc)
        if len(loc) > 1 and loc[0] == "records" and loc[1].isdigit() and int(loc[1]) < len(batch):
            row_id = batch[int(loc[1])].get("id")
            where = f"row {first_row + int(loc[1]) + 1}" + (f" (id {row_id})" if row_id is not None else "")
            where += f": {'.'.join(loc[2:])}" if loc[2:] else ""
        problems.append(f"{where}: {problem.get('msg', '')}")
    return "; ".join(problems)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json().get("detail"))
    except (ValueError, AttributeError):
        return response.text[:500]


def _gate(passed: bool | None) -> str:
    return "-" if passed is None else "[green]pass[/green]" if passed else "[red]fail[/red]"


def records_table(found: list[dict]) -> Table:
    table = Table(title="records")
    watched = list(found[0]["scores"]) if found else []  # the service's four metrics, in its order
    table.add_column("id", no_wrap=True, min_width=36)  # whole: `records show` takes it
    for column in ("app", "timestamp", "status", "your id", *watched, "gate"):
        table.add_column(column)
    for record in found:
        table.add_row(record["id"], escape(record["app"]), record["timestamp"], record["status"],
                      "" if record["sample_id"] is None else escape(str(record["sample_id"])),
                      *(num(record["scores"].get(m)) for m in watched),
                      _gate(record["gate_passed"]) if not record["error"] else f"[red]error[/red] "
                                                                               f"{escape(record['error'])}")
    return table


def failures_table(found: list[dict]) -> Table:
    table = Table(title="failing records")
    table.add_column("id", no_wrap=True, min_width=36)
    for column in ("app", "timestamp", "question", "hallucination", "failed rules", "unsupported claims"):
        table.add_column(column)
    for failure in found:
        table.add_row(failure["id"], escape(failure["app"]), failure["ts"], _short(failure["question"]),
                      num(failure["hallucination_score"]), ", ".join(failure["failed_rules"]),
                      "\n".join(f"{c['verdict']}: {_short(c['claim'])}" for c in failure["claims"]))
    return table


def _short(text: str, chars: int = 80) -> str:
    """The text cut to `chars`, escaped for rich markup."""
    return escape(text if len(text) <= chars else text[:chars - 1] + "…")


def unbacked_claims(result: dict) -> list[dict]:
    """The answer's claims the contexts do not support or contradict, as the monitoring page lists them."""
    claims = ((result.get("details") or {}).get("faithfulness") or {}).get("claims") or []
    unbacked = [c for c in claims if c.get("verdict") != "supported"]
    if not unbacked:  # judges that give no claim details still name the gate's unsupported claims
        unbacked = [{"claim": c, "verdict": "unsupported"} for c in (result.get("gate") or {}).get("unsupported_claims")
                    or []]
    return unbacked


def print_record(console: Console, record: dict) -> None:
    """One record: its sample, scores, gate verdict and unbacked claims."""
    sample, result = record["sample"], record["result"] or {}
    gate = result.get("gate") or {}
    about = Table(show_header=False, title=f"record {record['id']}")
    about.add_column(style="bold")
    about.add_column()
    scores = result.get("scores") or {}
    text = [("app", record["app"]), ("status", record["status"]), ("timestamp", record["timestamp"]),
            ("trace id", record["trace_id"] or "-"), ("your id", str(sample.get("id") or "-")),
            ("question", sample["user_input"]), ("answer", sample["response"]),
            *((f"context {i + 1}", c) for i, c in enumerate(sample.get("retrieved_contexts") or [])),
            *((f"metadata {k}", str(v)) for k, v in (sample.get("metadata") or {}).items())]
    for name, value in (*((escape(k), escape(v)) for k, v in text),
                        *((m, num(scores.get(m))) for m in record["metrics"]),
                        ("gate", _gate(gate.get("passed"))), ("hallucination", num(gate.get("hallucination_score"))),
                        ("failed rules", ", ".join(gate.get("failed_rules") or []) or "-"),
                        ("error", escape(record["error"] or "-"))):
        about.add_row(name, value)
    console.print(about)
    claims = unbacked_claims(result)
    if claims:
        table = Table(title="claims the contexts do not support")
        for column in ("verdict", "claim", "evidence", "context"):
            table.add_column(column)
        for claim in claims:
            index = claim.get("context_index")
            table.add_row(claim["verdict"], escape(claim["claim"]), escape(claim.get("evidence") or ""),
                          "-" if index is None else str(index + 1))
        console.print(table)
