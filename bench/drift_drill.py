"""Drift drill: faithfulness drops from about 0.9 to about 0.6 at a known time; the alert must fire within one window,
exactly once, and recover once after faithfulness comes back, each with one signed webhook.

Starts `ragmeter serve` (embedded judge, its own SQLite file, no key) and a local webhook receiver, creates a rule
(faithfulness below 0.75 over 20 s, at least 8 records), then sends records through POST /v1/records: answers of
10 sentences, 9 taken from the context and 1 invented (faithfulness about 0.9), then 6 and 4 (about 0.6), then 9
and 1 again. Prints the mean the judge actually gave each phase, when the drop began, when the alert fired and
recovered, and the webhooks that arrived with their signature check.

    python bench/drift_drill.py                  # records sent through POST /v1/records (the ingestion route)
    python bench/drift_drill.py --via evaluate   # score with /v1/evaluate and insert the records (no ingestion route)
"""
from __future__ import annotations

import argparse
import json
import random
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from drill_service import serve

from ragmeter.metrics import SampleResult
from ragmeter.service.server.traffic.webhooks import SIGNATURE, TIMESTAMP, verify

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' webhook receiver
from tests.webhook_receiver import WebhookReceiver  # noqa: E402

APP = "drill"
FACTS = [f"The {name} valve on line {n} was replaced in {year}." for n, (name, year) in enumerate(
    [("north", 1998), ("south", 2003), ("east", 2011), ("west", 2015), ("upper", 1987), ("lower", 2020),
     ("inner", 1993), ("outer", 2008), ("main", 2001), ("spare", 2017), ("relief", 1990), ("intake", 2012)], 1)]
INVENTED = ["The plant was designed by a famous Italian architect.", "Its staff won a national award in 2019.",
            "The turbines are painted bright orange.", "The site once hosted an Olympic rowing event.",
            "A museum about steam engines opens there every summer.", "Its chimney is the tallest in Europe.",
            "The cafeteria serves only vegetarian food.", "The founder later became a famous novelist."]


def sample(faithful: int, invented: int, rng: random.Random) -> dict:
    """A record whose answer has `faithful` sentences copied from the context and `invented` ones it lacks."""
    sentences = rng.sample(FACTS, faithful) + rng.sample(INVENTED, invented)
    rng.shuffle(sentences)
    return {"user_input": "What do we know about the valves of the plant?", "retrieved_contexts": [" ".join(FACTS)],
            "response": " ".join(sentences), "metrics": ["faithfulness"]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sender:
    """Sends one record at a time, either through /v1/records or scored by /v1/evaluate and stored directly."""

    def __init__(self, http: httpx.Client, via: str, db: str):
        self.http, self.via = http, via
        self.store = None
        if via == "evaluate":
            from ragmeter.service.server.batches.store import Store

            self.store = Store(db)

    def send(self, record: dict, ts: datetime) -> float | None:
        """Send; the faithfulness the judge gave (evaluate mode) or None (records mode: scored later)."""
        if self.via == "records":
            answer = self.http.post("/v1/records", json={"app": APP, "records": [
                {**record, "timestamp": ts.isoformat(), "app": APP}]})
            answer.raise_for_status()
            return None
        answer = self.http.post("/v1/evaluate", json={"samples": [record], "metrics": ["faithfulness"]})
        answer.raise_for_status()
        result = SampleResult.model_validate(answer.json()["results"][0])
        self.insert(record, result, ts)
        return result.scores.faithfulness

    def insert(self, record: dict, result: SampleResult, ts: datetime) -> None:
        from ragmeter.service.server.traffic.tables import Record, scored_columns

        assert self.store is not None
        with self.store.session.begin() as s:
            s.add(Record(id=str(uuid.uuid4()), tenant=None, app=APP, ts=ts, received_at=ts, sample=record, meta={},
                         metrics=["faithfulness"], gate={}, status="scored", result=result.model_dump(mode="json"),
                         scored_at=datetime.now(UTC), attempts=1, **scored_columns(result)))


def faithfulness_of(db: str, since: datetime, until: datetime) -> list[float]:
    """Faithfulness of the records with ts in [since, until), read from the service's database."""
    from sqlalchemy import select

    from ragmeter.service.server.batches.store import Store
    from ragmeter.service.server.traffic.tables import Record

    store = Store(db)
    try:
        with store.session() as s:
            found = s.scalars(select(Record.faithfulness).where(Record.app == APP, Record.ts >= since,
                                                                Record.ts < until))
            return [v for v in found if v is not None]
    finally:
        store.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--via", choices=["records", "evaluate"], default="records")
    parser.add_argument("--window", type=float, default=20.0)
    parser.add_argument("--threshold", type=float, default=0.75)
    parser.add_argument("--min-count", type=int, default=8)
    parser.add_argument("--rate", type=float, default=2.0, help="records per second")
    parser.add_argument("--phase", type=float, default=40.0, help="seconds of each phase (good, bad, good)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="drift-drill-"))
    db = f"sqlite:///{folder}/drill.db"
    port = free_port()
    receiver = WebhookReceiver()
    service = serve(port, db, RAGMETER_JUDGE="embedded", RAGMETER_ALERT_ALLOW_PRIVATE_WEBHOOKS="true",
                    RAGMETER_ALERT_EVAL_S="2")
    rng = random.Random(21)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            rule = http.post("/v1/alerts", json={
                "name": "drill faithfulness", "app": APP, "metric": "faithfulness", "threshold": args.threshold,
                "window_s": args.window, "min_count": args.min_count, "webhook_url": receiver.url}).json()
            sender = Sender(http, args.via, db)
            phases = [("good", 9, 1), ("bad", 6, 4), ("good again", 9, 1)]
            bounds: list[tuple[str, datetime, datetime]] = []
            for name, faithful, invented in phases:
                began = datetime.now(UTC)
                end = time.time() + args.phase
                while time.time() < end:
                    sender.send(sample(faithful, invented, rng), datetime.now(UTC))
                    time.sleep(max(0.0, 1 / args.rate - 0.01))
                bounds.append((name, began, datetime.now(UTC)))
            hooks = receiver.wait_for(2, timeout=args.window + 10)  # the recovery may need the window to turn over
            detail = http.get(f"/v1/alerts/{rule['id']}").json()
        print(f"via /v1/{args.via}; rule: faithfulness < {args.threshold} over {args.window:g} s, "
              f"min_count {args.min_count}; {args.rate:g} records/s, {args.phase:g} s per phase")
        for name, began, ended in bounds:
            values = faithfulness_of(db, began, ended)
            mean = sum(values) / len(values) if values else float("nan")
            print(f"  phase {name:10s}: {len(values):3d} scored records, mean faithfulness {mean:.3f}")
        drop = bounds[1][1].timestamp()
        rise = bounds[2][1].timestamp()
        events = [(e["kind"], datetime.fromisoformat(e["at"]).timestamp()) for e in reversed(detail["events"])]
        for kind, at in events:
            since = at - (drop if kind == "fired" else rise)
            print(f"  {kind} {since:.1f} s after the {'drop' if kind == 'fired' else 'recovery'} began "
                  f"(window {args.window:g} s)")
        kinds = [json.loads(body)["kind"] for _, body in hooks]
        valid = [verify(rule["secret"], body, headers[SIGNATURE], headers[TIMESTAMP]) for headers, body in hooks]
        print(f"  webhooks received: {kinds}, signatures valid: {valid}")
        fired = [at for kind, at in events if kind == "fired"]
        ok = (kinds == ["fired", "recovered"] and all(valid) and len(fired) == 1
              and 0 <= fired[0] - drop <= args.window)
        print("PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        service.terminate()
        service.wait(timeout=30)
        receiver.close()


if __name__ == "__main__":
    raise SystemExit(main())
