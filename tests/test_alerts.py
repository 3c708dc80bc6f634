"""Alert rules: firing once per breach, recovering once, webhooks signed and retried, the API and the CLI."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from ragmeter.service.cli import main as cli_main
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.store import Store
from ragmeter.service.server.traffic import alerts, rules
from ragmeter.service.server.traffic.tables import AlertEvent, Record
from ragmeter.service.server.traffic.webhooks import EVENT, SIGNATURE, TIMESTAMP, Policy, deliver_due, sign, verify
from ragmeter.service.settings import Settings

from .conftest import serving
from .helpers import StubJudge
from .webhook_receiver import WebhookReceiver

NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
RULE = {"name": "faith", "app": "chat", "metric": "faithfulness", "slice": {}, "window_s": 60.0, "threshold": 0.75,
        "min_count": 5, "webhook_url": None, "secret": "s" * 32}


def add_records(store: Store, values: list[float], at: datetime = NOW, app: str = "chat", tenant: str | None = None,
                meta: dict | None = None) -> None:
    """Scored records of `app` with these faithfulness values, one second apart, the last at `at`."""
    with store.session.begin() as s:
        for i, value in enumerate(values):
            ts = at - timedelta(seconds=len(values) - 1 - i)
            s.add(Record(id=str(uuid.uuid4()), tenant=tenant, app=app, ts=ts, received_at=ts, sample={},
                         meta=meta or {}, metrics=["faithfulness"], gate={}, status="scored", scored_at=ts,
                         faithfulness=value, gate_passed=value >= 0.5))


def kinds(store: Store) -> list[str]:
    with store.session() as s:
        return list(s.scalars(select(AlertEvent.kind).order_by(AlertEvent.id)))


@pytest.fixture
def store(job_store):
    store = Store(job_store)
    yield store
    store.close()


def test_fires_once_stays_firing_and_recovers_once(store):
    rule = rules.create_rule(store, None, dict(RULE))
    add_records(store, [0.9] * 10, at=NOW - timedelta(seconds=30))
    assert alerts.evaluate(store, rule.id, NOW).event is None  # healthy window
    add_records(store, [0.2] * 10, at=NOW + timedelta(seconds=10))
    fired = alerts.evaluate(store, rule.id, NOW + timedelta(seconds=10))
    assert fired.event == "fired" and fired.window.count == 20 and fired.window.value == pytest.approx(0.55)
    # Still breached a little later: no second event.
    assert alerts.evaluate(store, rule.id, NOW + timedelta(seconds=11)).event is None
    assert kinds(store) == ["fired"]
    assert rules.get_rule(store, None, rule.id).state == "firing"
    # The bad records age out of the window and good ones arrive: one recovery, then quiet.
    later = NOW + timedelta(seconds=120)
    add_records(store, [0.95] * 10, at=later)
    assert alerts.evaluate(store, rule.id, later).event == "recovered"
    assert alerts.evaluate(store, rule.id, later + timedelta(seconds=1)).event is None
    assert kinds(store) == ["fired", "recovered"]


def test_not_evaluated_below_min_count(store):
    rule = rules.create_rule(store, None, dict(RULE))
    add_records(store, [0.1] * 4)
    outcome = alerts.evaluate(store, rule.id, NOW)
    assert outcome.event is None and outcome.window.count == 4
    assert rules.get_rule(store, None, rule.id).state == "ok" and kinds(store) == []


def test_window_counts_only_its_app_slice_and_tenant(store):
    rule = rules.create_rule(store, "team-a", dict(RULE, slice={"model": "small"}))
    add_records(store, [0.1] * 10, tenant="team-b", meta={"model": "small"})  # another tenant's
    add_records(store, [0.1] * 10, tenant="team-a", app="other", meta={"model": "small"})  # another app
    add_records(store, [0.1] * 10, tenant="team-a", meta={"model": "large"})  # another slice
    assert alerts.evaluate(store, rule.id, NOW).window.count == 0
    add_records(store, [0.1] * 5, tenant="team-a", meta={"model": "small"})
    assert alerts.evaluate(store, rule.id, NOW).event == "fired"


def test_a_slice_on_a_metadata_key_beyond_ascii_counts_its_records(store):
    rule = rules.create_rule(store, None, dict(RULE, slice={"modèle": "petit"}))
    add_records(store, [0.1] * 10, meta={"modèle": "grand"})
    assert alerts.evaluate(store, rule.id, NOW).window.count == 0
    add_records(store, [0.1] * 10, meta={"modèle": "petit"})
    assert alerts.evaluate(store, rule.id, NOW).window.count == 10


def test_gate_pass_rate_rule(store):
    rule = rules.create_rule(store, None, dict(RULE, metric="gate_pass_rate", threshold=0.5))
    add_records(store, [0.9, 0.9, 0.1, 0.1, 0.1, 0.1])  # gate passes on 2 of 6
    outcome = alerts.evaluate(store, rule.id, NOW)
    assert outcome.event == "fired" and outcome.window.value == pytest.approx(2 / 6)


def test_two_evaluators_on_postgresql_fire_once(pg_url):
    stores = [Store(pg_url) for _ in range(4)]
    try:
        rule = rules.create_rule(stores[0], None, dict(RULE))
        add_records(stores[0], [0.1] * 10)
        start = threading.Barrier(len(stores))
        outcomes: list = []

        def race(store: Store) -> None:
            start.wait()
            outcomes.append(alerts.evaluate(store, rule.id, NOW))

        threads = [threading.Thread(target=race, args=(store,)) for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(str(o.event) for o in outcomes) == ["None", "None", "None", "fired"]
        assert kinds(stores[0]) == ["fired"]
    finally:
        for store in stores:
            store.close()


@pytest.fixture
def receiver():
    made: list[WebhookReceiver] = []

    def make(failures: int = 0) -> WebhookReceiver:
        made.append(WebhookReceiver(failures))
        return made[-1]

    yield make
    for r in made:
        r.close()


def test_webhook_body_is_signed_with_the_rules_secret(store, receiver):
    hook = receiver()
    rule = rules.create_rule(store, None, dict(RULE, webhook_url=hook.url))
    add_records(store, [0.2] * 6)
    alerts.evaluate(store, rule.id, NOW)
    with httpx.Client() as client:
        assert deliver_due(store, Policy(allow_private=True), client) == 1
    [(headers, body)] = hook.wait_for(1, timeout=30)
    assert headers[SIGNATURE] == sign(RULE["secret"], body)
    assert verify(RULE["secret"], body, headers[SIGNATURE], headers[TIMESTAMP])
    assert not verify("another secret of 32 characters..", body, headers[SIGNATURE], headers[TIMESTAMP])
    assert not verify(RULE["secret"], body, headers[SIGNATURE], headers[TIMESTAMP], now=time.time() + 3600)
    sent = json.loads(body)
    assert {k: sent[k] for k in ("kind", "app", "metric", "count", "threshold", "window_s")} == {
        "kind": "fired", "app": "chat", "metric": "faithfulness", "count": 6, "threshold": 0.75, "window_s": 60.0}
    assert sent["rule"] == {"id": rule.id, "name": "faith"} and sent["value"] == pytest.approx(0.2)
    assert sent["link"].endswith("/#alerts") and headers[EVENT] == str(sent["id"])
    with httpx.Client() as client:  # delivered: never sent again
        assert deliver_due(store, Policy(allow_private=True), client) == 0


def test_private_webhook_refused_at_delivery_unless_allowed(store, receiver):
    hook = receiver()
    rule = rules.create_rule(store, None, dict(RULE, webhook_url=hook.url))
    add_records(store, [0.2] * 6)
    alerts.evaluate(store, rule.id, NOW)
    with httpx.Client() as client:
        deliver_due(store, Policy(allow_private=False, backoff_s=0.01), client)
    with store.session() as s:
        event = s.scalars(select(AlertEvent)).one()
    assert hook.posts == [] and "non-public address" in event.last_error and event.delivered_at is None


def settings(**extra) -> Settings:
    return Settings(**{"alert_allow_private_webhooks": True, "alert_webhook_backoff_s": 0.05, "alert_eval_s": 0.2,
                       "poll_s": 0.2, **extra})


def test_webhook_retried_after_failing_receiver(job_store, receiver):
    hook = receiver(failures=2)
    store = Store(job_store)
    add_records(store, [0.1] * 6, at=datetime.now(UTC))
    with serving(settings()) as url:
        made = httpx.post(f"{url}/v1/alerts", json=dict(RULE, webhook_url=hook.url)).json()
        [(headers, body)] = hook.wait_for(1, timeout=30)
        assert len(hook.posts) == 3 and json.loads(body)["kind"] == "fired"
        assert verify(RULE["secret"], body, headers[SIGNATURE], headers[TIMESTAMP])
        # Each retry is the same event.
        assert {h[EVENT] for h, _ in hook.posts} == {headers[EVENT]}
        deadline = time.monotonic() + 10
        while (detail := httpx.get(f"{url}/v1/alerts/{made['id']}").json())["events"][0]["delivery"]["status"] \
                != "delivered" and time.monotonic() < deadline:
            pass
        delivery = detail["events"][0]["delivery"]
        assert delivery["status"] == "delivered" and delivery["attempts"] == 3 and detail["state"] == "firing"
    store.close()


def test_record_listener_evaluates_promptly(job_store):
    """A scored record's (tenant, app) mark fires the rule without waiting for the periodic pass."""
    store = Store(job_store)
    with TestClient(create_app(settings(alert_eval_s=3600), judge=StubJudge())) as client:
        made = client.post("/v1/alerts", json=RULE).json()
        deadline = time.monotonic() + 10  # its first evaluation (on creation) saw an empty window
        while client.get(f"/v1/alerts/{made['id']}").json()["last_count"] != 0 and time.monotonic() < deadline:
            pass
        add_records(store, [0.1] * 6, at=datetime.now(UTC))
        for listener in client.app.state.record_listeners:
            listener(None, "chat")
        deadline = time.monotonic() + 10
        while client.get(f"/v1/alerts/{made['id']}").json()["state"] != "firing" and time.monotonic() < deadline:
            pass
        detail = client.get(f"/v1/alerts/{made['id']}").json()
        assert detail["state"] == "firing" and [e["kind"] for e in detail["events"]] == ["fired"]
        assert detail["events"][0]["delivery"]["status"] == "none"  # no webhook on this rule
    store.close()


@pytest.mark.parametrize("change, field", [
    ({"metric": "helpfulness"}, "metric"), ({"threshold": 1.5}, "threshold"), ({"threshold": -0.1}, "threshold"),
    ({"window_s": 0}, "window_s"), ({"webhook_url": "ftp://example.com/x"}, "webhook_url"),
    ({"webhook_url": "file:///etc/passwd"}, "webhook_url"), ({"min_count": 0}, "min_count"),
    ({"min_count": 2**63}, "min_count"),
    ({"windw_s": 5}, "windw_s"), ({"slice": {"a\"b": "x"}}, "slice"), ({"name": "a\u0000b"}, "name")])
def test_bad_rules_are_422_naming_the_field(change, field):
    with TestClient(create_app(settings(), judge=StubJudge())) as client:
        answer = client.post("/v1/alerts", json=dict(RULE, **change))
    assert answer.status_code == 422
    assert field in [e["loc"][-1] for e in answer.json()["detail"]]


def test_private_webhook_422_unless_allowed():
    with TestClient(create_app(Settings(), judge=StubJudge())) as client:
        answer = client.post("/v1/alerts", json=dict(RULE, webhook_url="http://127.0.0.1:9/hook"))
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "webhook_url"]
    assert "RAGMETER_ALERT_ALLOW_PRIVATE_WEBHOOKS" in answer.json()["detail"][0]["msg"]


def test_tenants_see_only_their_rules_and_events(job_store):
    keys = {"a": "key-a", "b": "key-b"}
    store = Store(job_store)
    with TestClient(create_app(settings(api_keys=keys), judge=StubJudge())) as client:
        a, b = {"X-API-Key": "key-a"}, {"X-API-Key": "key-b"}
        made = client.post("/v1/alerts", json=RULE, headers=a).json()
        add_records(store, [0.1] * 6, tenant="a")
        alerts.evaluate(store, made["id"], NOW)
        assert [r["id"] for r in client.get("/v1/alerts", headers=a).json()] == [made["id"]]
        assert client.get("/v1/alerts", headers=b).json() == []
        assert client.get("/v1/alerts/events", headers=b).json() == []
        assert len(client.get("/v1/alerts/events", headers=a).json()) == 1
        assert client.get(f"/v1/alerts/{made['id']}", headers=b).status_code == 404
        assert client.delete(f"/v1/alerts/{made['id']}", headers=b).status_code == 404
        assert client.get("/v1/alerts").status_code == 401
        assert "secret" not in client.get(f"/v1/alerts/{made['id']}", headers=a).json()
        assert client.delete(f"/v1/alerts/{made['id']}", headers=a).json()["deleted"] is True
        assert client.get("/v1/alerts/events", headers=a).json() == []
    store.close()


def test_cli_add_list_show_delete(capsys):
    with serving(settings()) as url:
        assert cli_main(["alerts", "add", "--url", url, "--metric", "faithfulness", "--threshold", "0.7",
                         "--window", "30", "--min-count", "3", "--app", "chat", "--slice", "model=small",
                         "--name", "chat faithfulness", "--json"]) == 0
        made = json.loads(capsys.readouterr().out)
        assert made["secret"] and made["slice"] == {"model": "small"} and made["window_s"] == 30
        assert cli_main(["alerts", "list", "--url", url]) == 0
        listed = capsys.readouterr().out
        assert "chat faithfulness" in listed and made["id"][:8] in listed
        assert cli_main(["alerts", "show", made["id"], "--url", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["id"] == made["id"]
        # The table shows the id's first 8 characters; show and delete take them.
        assert cli_main(["alerts", "show", made["id"][:8], "--url", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["id"] == made["id"]
        assert cli_main(["alerts", "show", "nope", "--url", url]) == 2
        assert "no alert nope" in capsys.readouterr().err
        assert cli_main(["alerts", "delete", made["id"][:8], "--url", url]) == 0
        assert made["id"] in capsys.readouterr().err
        assert cli_main(["alerts", "list", "--url", url, "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == []
        assert cli_main(["alerts", "add", "--url", url, "--metric", "helpfulness", "--threshold", "0.7",
                         "--window", "30"]) == 2
        assert "metric" in capsys.readouterr().err
