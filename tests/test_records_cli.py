"""`ragmeter records send | list | show` and `ragmeter monitor` against a running service."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ragmeter.service.cli import main
from ragmeter.service.cli import records as records_cli
from ragmeter.service.server.traffic import ingest
from ragmeter.service.settings import Settings

from .conftest import serving
from .test_records import GatedJudge, wait_until

FACT = "The Eiffel Tower was completed in 1889."


def row(i: int, answer: str = FACT, **extra) -> dict:
    return {"id": f"r{i}", "question": "When was the Eiffel Tower completed?", "contexts": [FACT], "answer": answer,
            **extra}


def write_jsonl(path, rows: list[dict]):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def stored(url: str) -> list[dict]:
    return httpx.get(f"{url}/v1/records", params={"limit": 500}).json()["records"]


def all_scored(url: str, n: int) -> bool:
    found = stored(url)
    return len(found) == n and all(r["status"] != "pending" for r in found)


def test_send_waits_out_a_429_then_sends_the_same_batch_and_stores_every_record_once(tmp_path, monkeypatch, capsys):
    # The backlog is read from the database on every request, so the 429 ends as soon as the records are scored.
    monkeypatch.setattr(ingest, "BACKLOG_FRESH_S", 0.0)
    judge = GatedJudge()
    data = write_jsonl(tmp_path / "answers.jsonl", [row(i) for i in range(5)])
    with serving(Settings(record_max_backlog=2), judge=judge) as url:
        waits: list[float] = []

        def pause(seconds: float) -> None:  # instead of sleeping: let the judge score, and wait until it has
            waits.append(seconds)
            judge.open()
            wait_until(lambda: all(r["status"] != "pending" for r in stored(url)))

        monkeypatch.setattr(records_cli, "pause", pause)
        assert main(["records", "send", str(data), "--url", url, "--batch", "2", "--metrics", "faithfulness"]) == 0
        captured = capsys.readouterr()
        assert "5 records sent: 5 accepted, 0 duplicates, 0 sampled out" in captured.out
        assert waits and all(w >= 1 for w in waits)
        assert "429, waiting" in captured.err and "RAGMETER_RECORD_MAX_BACKLOG" in captured.err
        wait_until(lambda: all_scored(url, 5))
        assert sorted(r["sample_id"] for r in stored(url)) == [f"r{i}" for i in range(5)]

        # Sent again (a backfill restarted after a failure): every record is a duplicate, none stored twice, and
        # duplicates take no room in the backlog, so 5 at once pass a backlog of 2.
        assert main(["records", "send", str(data), "--url", url, "--batch", "5", "--json",
                     "--metrics", "faithfulness"]) == 0
        assert json.loads(capsys.readouterr().out) == {"sent": 5, "accepted": 0, "duplicates": 5, "sampled_out": 0}
        assert len(stored(url)) == 5
        # 3 new records at once can never fit a backlog of 2: the command says to send smaller batches.
        more = write_jsonl(tmp_path / "more.jsonl", [row(i) for i in range(5, 8)])
        assert main(["records", "send", str(more), "--url", url, "--batch", "3"]) == 2
        assert "a smaller --batch" in capsys.readouterr().err


def test_send_stops_when_a_429_asks_for_a_longer_wait_than_allowed(tmp_path, monkeypatch, capsys):
    judge = GatedJudge()  # never opened: the backlog stays full
    data = write_jsonl(tmp_path / "answers.jsonl", [row(i) for i in range(3)])
    monkeypatch.setattr(records_cli, "pause", lambda seconds: pytest.fail("waited"))
    with serving(Settings(record_max_backlog=2), judge=judge) as url:
        assert main(["records", "send", str(data), "--url", url, "--batch", "2", "--max-wait", "0.5"]) == 2
        problem = capsys.readouterr().err
        assert "more than --max-wait 0.5 s" in problem and "2 records sent: 2 accepted" in problem
        judge.open()


def test_send_keeps_timestamp_trace_and_app_as_record_fields_and_other_columns_as_metadata(tmp_path, capsys):
    data = tmp_path / "answers.csv"
    data.write_text("id,question,contexts,answer,timestamp,trace_id,app,model\n"
                    f"c1,When?,{FACT},{FACT},2026-01-05T10:15:00Z,trace-1,support,small\n"
                    f"c2,When?,{FACT},{FACT},,,,large\n")
    with serving(Settings()) as url:
        assert main(["records", "send", str(data), "--url", url, "--app", "fallback"]) == 0
        assert "2 records sent: 2 accepted" in capsys.readouterr().out
        by_id = {r["sample_id"]: r for r in stored(url)}
        first = httpx.get(f"{url}/v1/records/{by_id['c1']['id']}").json()
        assert (first["app"], first["trace_id"], first["timestamp"]) == ("support", "trace-1", "2026-01-05T10:15:00Z")
        assert first["sample"]["metadata"] == {"model": "small"}
        assert by_id["c2"]["app"] == "fallback"


def test_send_stops_at_a_refused_row_and_names_it(tmp_path, capsys):
    rows = [row(0), row(1, answer="x" * 400), row(2)]
    data = write_jsonl(tmp_path / "answers.jsonl", rows)
    # The service's limit is lower than the one this machine reads the file with.
    with serving(Settings(max_sample_chars=300)) as url:
        assert main(["records", "send", str(data), "--url", url, "--batch", "10"]) == 2
        problem = capsys.readouterr().err
        assert "row 2 (id r1)" in problem and "RAGMETER_MAX_SAMPLE_CHARS" in problem
        assert "0 records sent" in problem
        assert stored(url) == []
        assert main(["records", "send", str(data), "--url", url, "--batch", "1"]) == 2
        assert "1 records sent: 1 accepted" in capsys.readouterr().err  # what got through before the stop


def test_list_show_and_monitor_print_what_the_service_holds(capsys):
    now = datetime.now(UTC) - timedelta(minutes=5)
    sent = [row(0, timestamp=now.isoformat(), metadata={"model": "small"}),
            row(1, answer="It was completed in 1925.", timestamp=now.isoformat(), metadata={"model": "small"}),
            row(2, timestamp=now.isoformat(), metadata={"model": "large"})]
    with serving(Settings()) as url:
        body = {"app": "support", "records": sent, "metrics": ["faithfulness"]}
        assert httpx.post(f"{url}/v1/records", json=body).status_code == 202
        wait_until(lambda: all_scored(url, 3))
        failing = next(r for r in stored(url) if r["sample_id"] == "r1")

        assert main(["records", "list", "--url", url, "--app", "support"]) == 0
        listed = capsys.readouterr().out
        assert all(r["id"] in listed for r in stored(url)) and listed.count("fail") == 1
        assert main(["records", "list", "--url", url, "--status", "pending", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["records"] == []
        assert main(["records", "list", "--url", url, "--failing"]) == 0
        listed = capsys.readouterr().out
        assert failing["id"] in listed and "1925" in listed and listed.count("unsupported:") == 1

        assert main(["records", "show", failing["id"], "--url", url]) == 0
        shown = capsys.readouterr().out
        assert "claims the contexts do not support" in shown and "unsupported" in shown and "1925" in shown
        assert main(["records", "show", "nope", "--url", url]) == 2
        assert "no record 'nope'" in capsys.readouterr().err
        assert main(["records", "show", "r1", "--app", "support", "--url", url, "--json"]) == 0  # the id we sent
        assert json.loads(capsys.readouterr().out)["id"] == failing["id"]
        assert main(["records", "show", "r1", "--app", "elsewhere", "--url", url]) == 2
        assert "no record with id 'r1' in app 'elsewhere'" in capsys.readouterr().err

        # Without --app: the app that sent records most recently.
        assert main(["monitor", "--url", url, "--window", "2h", "--json"]) == 0
        (series,) = json.loads(capsys.readouterr().out)["series"]
        assert series["metric"] == "faithfulness" and series["count"] == 3
        assert main(["monitor", "--url", url, "--app", "support", "--metric", "gate_pass_rate", "--slice",
                     "model=small"]) == 0
        table = capsys.readouterr().out
        assert "gate_pass_rate of support, model=small" in table and "2 values in the window" in table
        assert "0.500" in table  # one of the two passed
        assert main(["monitor", "--url", url, "--slice", "model"]) == 2
        assert main(["monitor", "--url", url, "--metric", "speed"]) == 2
        assert "unknown 'speed'" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("24h", 86_400), ("7d", 604_800), ("30", 30)])
def test_monitor_reads_a_window_as_a_duration(text, seconds):
    from ragmeter.service.cli.monitor import duration

    assert duration(text).total_seconds() == seconds


def replaying(answers: list) -> tuple[httpx.Client, list[dict]]:
    """A client whose service answers each POST with the next of `answers` (a status, or an exception to raise)."""
    bodies: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        if answer == 202:
            return httpx.Response(202, json={"accepted": 1, "ids": ["x"], "sampled_out": 0, "duplicates": 0})
        return httpx.Response(answer, json={"detail": "restarting"})

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://ragmeter.test"), bodies


def test_send_retries_a_restarting_service_and_a_lost_connection_with_backoff(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(records_cli, "pause", waits.append)
    http, bodies = replaying([503, httpx.ConnectError("refused"), 502, 202])
    body = {"records": [row(1), row(2)]}
    assert records_cli.post_batch(http, body, 0, 600)["accepted"] == 1
    assert waits == [1, 2, 4]
    assert bodies == [body] * 4  # the same batch each time: its ids make a second copy a duplicate


def test_send_does_not_resend_records_without_an_id_after_a_lost_connection(monkeypatch):
    monkeypatch.setattr(records_cli, "pause", lambda seconds: pytest.fail("waited"))
    http, bodies = replaying([httpx.ReadTimeout("no answer"), 202])
    no_ids = {"records": [{k: v for k, v in row(1).items() if k != "id"}]}
    with pytest.raises(records_cli.CommandError, match="without an id could be stored twice"):
        records_cli.post_batch(http, no_ids, 0, 600)
    assert len(bodies) == 1


def test_send_gives_up_after_its_retries(monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(records_cli, "pause", waits.append)
    http, _ = replaying([503] * (records_cli.RETRIES + 1))
    with pytest.raises(records_cli.CommandError, match=f"HTTP 503: restarting for rows 1-1, {records_cli.RETRIES} "):
        records_cli.post_batch(http, {"records": [{"question": "q", "contexts": [], "answer": "a"}]}, 0, 600)
    assert waits == [1, 2, 4, 8]
