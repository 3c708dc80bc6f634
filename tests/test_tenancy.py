"""API keys and tenants: without a key nothing under /v1 answers, and no tenant sees another's batches."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ragmeter.service.server.app import create_app
from ragmeter.service.cli import main
from ragmeter.service.settings import Settings

from .helpers import StubJudge, as_file, rows, wait_done

KEYS = {"alpha": "key-alpha-0123456789", "beta": "key-beta-0123456789"}


@pytest.fixture
def client():
    with TestClient(create_app(Settings(api_keys=KEYS), judge=StubJudge())) as c:
        yield c


def as_tenant(name: str) -> dict:
    return {"Authorization": f"Bearer {KEYS[name]}"}


def test_without_a_valid_key_only_health_answers(client):
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    for method, path in (("get", "/v1/batches"), ("get", "/v1/metrics"), ("post", "/v1/evaluate"), ("get", "/")):
        assert getattr(client, method)(path).status_code == 401
        assert getattr(client, method)(path, headers={"X-API-Key": "wrong"}).status_code == 401
    assert client.get("/v1/metrics", headers={"X-API-Key": KEYS["beta"]}).status_code == 200
    assert client.get("/", params={"api_key": KEYS["alpha"]}).status_code == 200
    # The answer tells a missing key from a wrong one.
    assert "is required" in client.get("/v1/batches").json()["detail"]
    assert "not known" in client.get("/v1/batches", headers={"X-API-Key": "wrong"}).json()["detail"]


def test_metrics_can_be_kept_to_the_scraper_with_its_own_key():
    scraper = "scrape-" + "x" * 16
    with TestClient(create_app(Settings(api_keys=KEYS, metrics_key=scraper), judge=StubJudge())) as c:
        assert c.get("/metrics").status_code == 401
        assert c.get("/metrics", headers={"X-API-Key": KEYS["alpha"]}).status_code == 401  # a tenant's key is not it
        shown = c.get("/metrics", headers={"Authorization": f"Bearer {scraper}"})
        assert shown.status_code == 200 and "ragmeter_" in shown.text
        assert c.get("/healthz").status_code == 200


def test_a_tenant_never_sees_another_tenants_batches(client):
    batch = client.post("/v1/batches", files={"file": ("a.jsonl", as_file(rows(3), "jsonl"))},
                        headers=as_tenant("alpha")).json()
    wait_done(_Authed(client, "alpha"), batch["id"])
    assert [b["id"] for b in client.get("/v1/batches", headers=as_tenant("alpha")).json()] == [batch["id"]]
    assert client.get("/v1/batches", headers=as_tenant("beta")).json() == []
    for suffix in ("", "/results", "/summary", "/report"):
        assert client.get(f"/v1/batches/{batch['id']}{suffix}", headers=as_tenant("beta")).status_code == 404
    assert client.delete(f"/v1/batches/{batch['id']}", headers=as_tenant("beta")).status_code == 404
    assert client.get(f"/v1/batches/{batch['id']}/results", headers=as_tenant("alpha")).status_code == 200


class _Authed:
    """A client that sends one tenant's key, for helpers that take a client."""

    def __init__(self, client, name):
        self.client, self.headers = client, as_tenant(name)

    def get(self, url, **kwargs):
        return self.client.get(url, headers=self.headers, **kwargs)


def test_keys_made_with_the_cli_work_until_revoked(tmp_path, monkeypatch, capsys):
    assert main(["keys", "create", "ci", "--tenant", "team-a"]) == 0
    key = capsys.readouterr().out.strip()
    assert key.startswith("rk_")
    with TestClient(create_app(Settings(), judge=StubJudge())) as c:
        assert c.get("/v1/batches").status_code == 401
        assert c.get("/v1/batches", headers={"X-API-Key": key}).status_code == 200
        assert main(["keys", "revoke", "ci"]) == 0
        assert c.get("/v1/batches", headers={"X-API-Key": key}).status_code == 401
    assert main(["keys", "list"]) == 0 and "tenant=team-a" in capsys.readouterr().out


def test_serving_beyond_loopback_without_keys_needs_an_explicit_setting(capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", "1"]) == 2
    assert "RAGMETER_ALLOW_OPEN_NETWORK" in capsys.readouterr().err


def test_a_key_over_its_request_rate_or_daily_samples_gets_429_with_retry_after():
    settings = Settings(api_keys=KEYS, rate_limit_rps=1, samples_per_day=2)
    with TestClient(create_app(settings, judge=StubJudge())) as c:
        assert c.get("/v1/metrics", headers=as_tenant("alpha")).status_code == 200
        limited = c.get("/v1/metrics", headers=as_tenant("alpha"))
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert c.get("/v1/metrics", headers=as_tenant("beta")).status_code == 200  # each key has its own bucket


def test_the_daily_sample_quota_counts_evaluated_and_uploaded_samples():
    from ragmeter.service.server.quota import Quota

    now = [0.0]
    quota = Quota(samples_per_day=3, clock=lambda: now[0])
    quota.samples("alpha", 2)
    with pytest.raises(Exception) as refused:
        quota.samples("alpha", 2)
    assert refused.value.status_code == 429 and "quota of 3" in refused.value.detail
    quota.samples("beta", 3)
    now[0] = 86_401
    quota.samples("alpha", 3)  # a new day


def test_the_python_client_sends_the_key_from_its_argument_or_ragmeter_api_key(monkeypatch):
    from ragmeter.service.client import RagmeterClient

    monkeypatch.setenv("RAGMETER_API_KEY", "from-env")
    with RagmeterClient("http://127.0.0.1:1") as client:
        assert client.http.headers["X-API-Key"] == "from-env"
    with RagmeterClient("http://127.0.0.1:1", api_key="given") as client:
        assert client.http.headers["X-API-Key"] == "given"


def test_a_key_without_tenant_starts_a_new_tenant_and_never_joins_an_existing_one(capsys):
    assert main(["keys", "create", "acme"]) == 0
    capsys.readouterr()
    # A second key named after a tenant that exists (here through a key of another name) is refused.
    assert main(["keys", "create", "ops", "--tenant", "globex"]) == 0
    capsys.readouterr()
    assert main(["keys", "create", "globex"]) == 2
    message = capsys.readouterr().err
    assert "tenant named 'globex' exists" in message and "--tenant globex" in message
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split("\t")[:2] for line in listed] == [["acme", "tenant=acme"], ["ops", "tenant=globex"]]


def test_a_key_joins_an_existing_tenant_only_when_it_is_named(capsys):
    assert main(["keys", "create", "acme"]) == 0
    acme_key = capsys.readouterr().out.strip()
    with TestClient(create_app(Settings(), judge=StubJudge())) as c:
        batch = c.post("/v1/batches", files={"file": ("a.jsonl", as_file(rows(2), "jsonl"))},
                       headers={"X-API-Key": acme_key}).json()
        assert main(["keys", "create", "acme-ci", "--tenant", "acme"]) == 0
        joined = capsys.readouterr().out.strip()
        assert [b["id"] for b in c.get("/v1/batches", headers={"X-API-Key": joined}).json()] == [batch["id"]]
        capsys.readouterr()
        assert main(["keys", "create", "fresh"]) == 0
        fresh = capsys.readouterr().out.strip()
        assert c.get("/v1/batches", headers={"X-API-Key": fresh}).json() == []


def test_a_tenant_with_only_batches_or_a_static_key_is_an_existing_tenant(capsys, monkeypatch):
    from ragmeter.service.server.batches.store import Store
    from ragmeter.metrics import GateConfig

    store = Store(Settings().db)
    try:
        store.create_job("old.jsonl", [], ["faithfulness"], GateConfig(), tenant="legacy")
    finally:
        store.close()
    assert main(["keys", "create", "legacy"]) == 2 and "--tenant legacy" in capsys.readouterr().err
    assert main(["keys", "create", "legacy", "--tenant", "legacy"]) == 0
    monkeypatch.setenv("RAGMETER_API_KEYS", '{"deploy": "key-deploy-0123456789"}')
    assert main(["keys", "create", "deploy"]) == 2 and "--tenant deploy" in capsys.readouterr().err
