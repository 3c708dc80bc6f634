"""Monitoring production records: bucketed aggregates, slices, tenants, retention's roll-ups, API, Prometheus."""
from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import delete, func, select, update

from ragmeter.metrics import Sample, score_sample
from ragmeter.service.analysis.stats import mean_ci, wilson_ci
from ragmeter.service.metadata import value_label
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.store import Store
from ragmeter.service.server.traffic import rollups
from ragmeter.service.server.traffic.monitor import Query, series
from ragmeter.service.server.traffic.tables import WATCHED, Record, Rollup
from ragmeter.service.settings import Settings

from .conftest import serving
from .helpers import SAMPLE, StubJudge

# A real result: the stub judge finds "It is 500 metres tall." in no context, so the gate fails on it.
RESULT = asyncio.run(score_sample(Sample(**SAMPLE), StubJudge())).model_dump(mode="json")
T0 = datetime(2025, 3, 1, tzinfo=UTC)


def add(store: Store, ts: datetime, faithfulness: float | None = None, passed: bool | None = None, *,
        app: str = "chat", tenant: str | None = None, meta: dict | None = None, status: str = "scored",
        **scores: float | None) -> None:
    # A pending record is leased to a scorer that is not there, so a running app's runner leaves it pending.
    lease = {"lease_owner": "elsewhere", "lease_until": datetime.now(UTC) + timedelta(days=1)} \
        if status == "pending" else {}
    with store.session.begin() as s:
        s.add(Record(id=str(uuid.uuid4()), tenant=tenant, app=app, ts=ts, received_at=ts, sample=SAMPLE,
                     meta=meta or {}, metrics=list(WATCHED), gate={}, status=status, **lease,
                     result=RESULT if status == "scored" else None, scored_at=ts, faithfulness=faithfulness,
                     gate_passed=passed if status == "scored" else None, **scores))


def query(store: Store, start: datetime = T0, hours: int = 3, bucket_s: int = 3600, **options):
    with store.session() as s:
        return series(s, Query(tenant=options.pop("tenant", None), app=options.pop("app", "chat"), start=start,
                               end=start + timedelta(hours=hours), bucket_s=bucket_s, **options))


def pick(result, metric: str, group: str | None = None):
    return next(s for s in result.series if s.metric == metric and s.group == group)


@pytest.fixture
def store(job_store):
    s = Store(job_store)
    yield s
    s.close()


def test_buckets_give_count_mean_p10_and_intervals_and_count_nulls_apart(store):
    values = [0.1 * i for i in range(1, 11)]
    for i, v in enumerate(values):
        add(store, T0 + timedelta(minutes=5 * i), v, passed=i < 7, answer_relevancy=1.0)
    add(store, T0 + timedelta(minutes=55), None, passed=True)  # null faithfulness (no claims)
    add(store, T0 + timedelta(minutes=56), status="error")
    add(store, T0 + timedelta(hours=2, minutes=1), 0.4, passed=False)

    result = query(store)
    first, empty, last = pick(result, "faithfulness").buckets
    assert (first.count, first.nulls) == (10, 2)
    assert first.mean == pytest.approx(0.55)
    assert first.p10 == pytest.approx(np.percentile(values, 10), abs=1e-4)
    half = 2.262 * np.std(values, ddof=1) / np.sqrt(10)  # t with 9 degrees of freedom
    assert first.ci95 == pytest.approx((0.55 - half, 0.55 + half), abs=1e-3)
    assert (empty.count, empty.nulls, empty.mean, empty.ci95) == (0, 0, None, None)
    assert (last.count, last.mean, last.ci95) == (1, 0.4, None)  # one value has no interval
    rate = pick(result, "gate_pass_rate").buckets[0]
    assert (rate.count, rate.nulls, rate.mean, rate.p10) == (11, 1, pytest.approx(8 / 11, abs=1e-4), None)
    assert rate.ci95 == pytest.approx((0.4343, 0.9025), abs=1e-3)  # Wilson 95% of 8/11
    assert pick(result, "answer_relevancy").buckets[0].count == 10
    assert [b.start for b in pick(result, "faithfulness").buckets] == [T0 + timedelta(hours=h) for h in range(3)]


def test_the_mean_and_pass_rate_intervals_cover_the_true_values_about_95_percent_of_the_time(store):
    rng = np.random.default_rng(7)
    hours = 120
    for h in range(hours):
        for v, p in zip(rng.beta(6, 2, size=12), rng.random(12) < 0.8, strict=True):
            add(store, T0 + timedelta(hours=h, minutes=1), float(v), passed=bool(p))
    result = query(store, hours=hours)
    means = [b.ci95 for b in pick(result, "faithfulness").buckets]
    rates = [b.ci95 for b in pick(result, "gate_pass_rate").buckets]
    covered = sum(lo <= 0.75 <= hi for lo, hi in means) / hours  # Beta(6, 2) has mean 0.75
    covered_rate = sum(lo <= 0.8 <= hi for lo, hi in rates) / hours
    assert 0.88 <= covered <= 1.0 and 0.88 <= covered_rate <= 1.0


def test_slices_filter_by_several_fields_and_group_by_one_top_values_first(store):
    for i in range(12):
        model = ["gpt", "gpt", "claude", "llama"][i % 4]
        add(store, T0 + timedelta(minutes=i), 0.9 if model == "gpt" else 0.5, passed=True,
            meta={"model": model, "lang": "en" if i < 6 else "fr", "v": 2})

    only = query(store, hours=1, where={"model": "gpt", "lang": "en", "v": "2"})
    assert pick(only, "faithfulness").count == 4 and pick(only, "faithfulness").buckets[0].mean == 0.9
    grouped = query(store, hours=1, group_by="model", top=2)
    assert [s.group for s in grouped.series if s.metric == "faithfulness"] == ["gpt", "claude"]
    assert grouped.groups_left_out == 1
    assert pick(grouped, "faithfulness", "claude").count == 3
    assert pick(grouped, "faithfulness", "gpt").buckets[0].mean == 0.9


def test_slices_read_metadata_keys_and_values_beyond_ascii(store):
    for i, (size, who) in enumerate([("grand", "小"), ("grand", "大"), ("petit", "小")]):
        add(store, T0 + timedelta(minutes=i), 0.2 * (i + 1), passed=True, meta={"modèle": size, "équipe": who})
    only = query(store, hours=1, where={"modèle": "grand", "équipe": "小"})
    assert pick(only, "faithfulness").count == 1 and pick(only, "faithfulness").buckets[0].mean == 0.2
    grouped = query(store, hours=1, group_by="modèle", top=2)
    assert sorted(s.group for s in grouped.series if s.metric == "faithfulness") == ["grand", "petit"]


def test_roll_up_then_delete_keeps_the_series_and_runs_idempotently(store):
    rng = np.random.default_rng(3)
    old = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=10)
    for h in range(6):
        for v in rng.random(25):
            add(store, old + timedelta(hours=h, minutes=int(v * 59)), float(v), passed=bool(v > 0.3),
                context_recall=float(1 - v), meta={"model": "gpt"})
        add(store, old + timedelta(hours=h, minutes=30), None, passed=True)
        add(store, old + timedelta(hours=h, minutes=31), status="error")
    before = {b: query(store, start=old, hours=6, bucket_s=b) for b in (3600, 3 * 3600)}

    assert rollups.expire_records(store, days=7) == 6 * 27
    assert rollups.expire_records(store, days=7) == 0  # nothing left to count twice
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 0
        assert s.scalar(select(func.sum(Rollup.count)).where(Rollup.metric == "records")) == 6 * 27
    for size, was in before.items():
        now = query(store, start=old, hours=6, bucket_s=size)
        for metric in ("faithfulness", "context_recall", "gate_pass_rate"):
            for a, b in zip(pick(was, metric).buckets, pick(now, metric).buckets, strict=True):
                assert (b.count, b.nulls, b.rolled_up) == (a.count, a.nulls, True)
                assert b.mean == pytest.approx(a.mean, abs=1e-4)
                assert b.ci95 == pytest.approx(a.ci95, abs=1e-4)
                assert b.p10 == pytest.approx(a.p10, abs=1e-4)  # the bins' extremes are kept
        assert any("roll-ups" in n for n in now.notes)
    sliced = query(store, start=old, hours=6, where={"model": "gpt"})
    assert pick(sliced, "faithfulness").count == 0 and any("slice" in n for n in sliced.notes)
    with store.session.begin() as s:  # roll-ups made before their bins' extremes were kept
        s.execute(update(Rollup).values(bin_low=None, bin_high=None))
    for a, b in zip(pick(before[3600], "faithfulness").buckets,
                    pick(query(store, start=old, hours=6, bucket_s=3600), "faithfulness").buckets, strict=True):
        assert b.mean == pytest.approx(a.mean, abs=1e-4) and abs(a.p10 - b.p10) <= 0.05


def test_a_crash_between_roll_up_and_delete_counts_nothing_and_late_records_join_their_hour(store):
    old = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    for i in range(4):
        add(store, old + timedelta(minutes=i), 0.5, passed=True)
    with pytest.raises(RuntimeError), store.session.begin() as s:
        rollups.roll_up_hour(s, old)
        raise RuntimeError("killed before the commit")
    assert rollups.expire_records(store, days=1) == 4
    add(store, old + timedelta(minutes=9), 1.0, passed=False)  # scored after its hour was rolled up
    add(store, old + timedelta(minutes=8), status="pending")  # never deleted unscored
    assert rollups.expire_records(store, days=1) == 1
    bucket = pick(query(store, start=old, hours=1), "faithfulness").buckets[0]
    assert (bucket.count, bucket.mean) == (5, 0.6)
    with store.session() as s:
        assert s.scalar(select(func.count()).select_from(Record)) == 1


def test_series_and_retention_on_postgresql(pg_url):
    store = Store(pg_url)
    try:
        old = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
        for i in range(10):
            add(store, old + timedelta(minutes=i), i / 10, passed=i % 2 == 0, meta={"k": i % 2})
        before = query(store, start=old, hours=1)
        assert pick(query(store, start=old, hours=1, where={"k": "1"}), "faithfulness").count == 5
        assert rollups.expire_records(store, days=1) == 10
        after = query(store, start=old, hours=1)
        assert pick(after, "faithfulness").buckets[0].mean == pick(before, "faithfulness").buckets[0].mean == 0.45
        assert pick(after, "gate_pass_rate").buckets[0].ci95 == pick(before, "gate_pass_rate").buckets[0].ci95
    finally:
        store.close()


KEYS = {"alice": "key-alice", "bob": "key-bob"}


def test_routes_are_tenant_scoped_and_list_apps_series_and_failures(job_store):
    store = Store(job_store)
    now = datetime.now(UTC)
    add(store, now - timedelta(minutes=5), 0.9, passed=True, tenant="alice", app="support")
    add(store, now - timedelta(minutes=4), 0.0, passed=False, tenant="alice", app="support")
    add(store, now - timedelta(minutes=3), 0.2, passed=False, tenant="bob", app="sales")
    with TestClient(create_app(Settings(api_keys=KEYS), judge=StubJudge())) as c:
        alice = {"X-API-Key": "key-alice"}
        apps = c.get("/v1/monitor/apps", headers=alice).json()["apps"]
        assert [(a["app"], a["records"]) for a in apps] == [("support", 2)]
        body = c.get("/v1/monitor/series", params={"app": "support", "metric": "faithfulness"}, headers=alice).json()
        assert [s["metric"] for s in body["series"]] == ["faithfulness"]
        assert sum(b["count"] for b in body["series"][0]["buckets"]) == 2 and body["bucket_s"] == 900
        other = c.get("/v1/monitor/series", params={"app": "sales"}, headers=alice).json()
        assert all(s["count"] == 0 for s in other["series"])
        failures = c.get("/v1/monitor/failures", headers=alice).json()["failures"]
        assert len(failures) == 1 and failures[0]["app"] == "support"
        claim = failures[0]["claims"][0]
        assert claim["verdict"] == "unsupported" and "500 metres" in claim["claim"]
        assert failures[0]["answer"] == SAMPLE["response"] and failures[0]["question"] == SAMPLE["user_input"]
        assert c.get("/v1/monitor/apps").status_code == 401
    store.close()


@pytest.mark.parametrize(("params", "named"), [
    ({"where": "model"}, "where"), ({"metric": "speed"}, "metric"),
    ({"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "from"), ({"bucket": "60", "from":
     "2025-01-01T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "bucket"), ({"from": "yesterday"}, "from"),
    ({"top": "0", "group_by": "m"}, "top"), ({"bucket": "86984712759638128"}, "bucket"),
    ({"from": "0759-09-29T05:14:27-05:22"}, "from"), ({"to": "9999-12-31T00:00:00Z"}, "to"),
    ({"to": "0001-01-01T00:07"}, "to"), ({"to": "0001-01-01T00:00:00+05:00"}, "to"),
    ({"where": 'a"b:1'}, "where"), ({"group_by": "a\\b"}, "group_by")])
def test_bad_parameters_answer_422_naming_the_parameter(params, named):
    with TestClient(create_app(Settings(), judge=StubJudge())) as c:
        response = c.get("/v1/monitor/series", params=params)
    assert response.status_code == 422
    assert named in str(response.json()["detail"])


def test_prometheus_has_per_app_series_capped_at_the_most_active_apps(job_store):
    store = Store(job_store)
    now = datetime.now(UTC)
    for v, passed in ((0.4, True), (0.8, False), (None, True)):
        add(store, now - timedelta(minutes=1), v, passed=passed, app="chat")
    add(store, now - timedelta(minutes=1), status="pending", app="chat")
    add(store, now - timedelta(minutes=1), 1.0, passed=True, app="quiet")
    add(store, now - timedelta(hours=3), 0.0, passed=False, app="chat")  # outside the window
    with TestClient(create_app(Settings(monitor_max_apps=1), judge=StubJudge())) as c:
        text = c.get("/metrics").text
    store.close()
    assert 'ragmeter_record_score{app="chat",metric="faithfulness",tenant=""} 0.6' in text
    assert 'ragmeter_record_score_count{app="chat",metric="faithfulness",tenant=""} 2.0' in text
    assert 'ragmeter_record_gate_pass_rate{app="chat",tenant=""} 0.666' in text
    assert 'ragmeter_records{app="chat",status="pending",tenant=""} 1.0' in text
    assert 'ragmeter_records{app="chat",status="scored",tenant=""} 3.0' in text
    assert 'app="quiet"' not in text
    assert "ragmeter_monitor_apps_omitted 1.0" in text


@contextlib.contextmanager
def monitoring_page():
    """The web page in headless Chromium on a fresh server, once its first chart is drawn; and playwright."""
    sync = pytest.importorskip("playwright.sync_api")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian chromium is not installed")
    with serving(Settings()) as url, sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(url)
        page.locator("#mon-charts svg.mon-chart").first.wait_for()
        yield page, sync
        browser.close()


def test_web_page_draws_each_metric_with_its_interval_band_and_marks_failing_claims(job_store):
    store = Store(job_store)
    now = datetime.now(UTC)
    for i in range(30):
        add(store, now - timedelta(hours=i % 5, minutes=1), (i % 10) / 10, passed=i % 3 > 0, meta={"m": i % 2})
    store.close()
    with monitoring_page() as (page, sync):
        assert page.locator("#mon-charts figure").count() == 5
        faithfulness = page.locator("figure[data-metric=faithfulness]")
        assert faithfulness.locator("path.band").count() >= 1 and faithfulness.locator("path.mean").count() >= 1
        assert faithfulness.locator("circle").count() == 5  # one per hour that has records
        assert "30 values" in faithfulness.inner_text()
        page.locator(".mon-failure").first.wait_for()
        assert "500 metres" in page.locator(".mon-failure mark.unsupported").first.inner_text()
        page.fill("#mon-where", "m:1")
        page.click("#mon-apply")
        # expect() polls from Python: the page's CSP forbids the eval that wait_for_function's string needs.
        sync.expect(faithfulness).to_contain_text("15 values")


def test_web_page_draws_the_interval_of_an_app_whose_records_share_one_bucket(job_store):
    # A new user's first few traces arrive within the hour: the chart shows their interval, not a bare dot.
    store = Store(job_store)
    now = datetime.now(UTC)
    for v in (1.0, 1.0, 0.5):
        add(store, now - timedelta(minutes=1), v, passed=v == 1.0)
    store.close()
    with monitoring_page() as (page, _):
        faithfulness = page.locator("figure[data-metric=faithfulness]")
        assert faithfulness.locator("circle").count() == 1
        assert faithfulness.locator("path.band").count() == 1
        band, dot = faithfulness.locator("path.band").bounding_box(), faithfulness.locator("circle").bounding_box()
        assert band["width"] > 1.5 * dot["width"] and band["height"] > 2 * dot["height"]  # 0.5 to 1.0: a wide interval


# SQL bucketing against a plain Python reference on random data: counts, nulls and means agree exactly (to the
# 4 places returned), intervals to rounding, and p10 within 0.05 of np.percentile's (the histogram's bin width).
SCORE = st.one_of(st.none(), st.sampled_from([0.0, 0.05, 0.1, 0.5, 0.95, 1.0]), st.floats(0, 1))
LABEL = st.sampled_from(["a", "b", 3, 2.5, True, False, "", None])  # None: the record has no such key
RECORD = st.tuples(st.integers(0, 3 * 60 - 1), SCORE, SCORE, st.one_of(st.none(), st.booleans()), LABEL,
                   st.booleans())


def store_records(store: Store, records: list[tuple]) -> None:
    with store.session.begin() as s:
        s.execute(delete(Record))
        for minute, faith, recall, passed, label, error in records:
            ts = T0 + timedelta(minutes=minute, seconds=30.5)
            s.add(Record(id=str(uuid.uuid4()), tenant=None, app="chat", ts=ts, received_at=ts, sample=SAMPLE,
                         meta={} if label is None else {"m": label}, metrics=list(WATCHED), gate={},
                         status="error" if error else "scored", result=None, faithfulness=None if error else faith,
                         context_recall=None if error else recall, gate_passed=None if error else passed))


def reference(records: list[tuple], bucket_s: int, metric: str, where: str | None = None) -> dict:
    """(group, bucket) -> (finished records, values) of `metric`, computed from the records in Python."""
    column = {"faithfulness": 1, "context_recall": 2, "gate_pass_rate": 3}[metric]
    out: dict = {}
    for r in records:
        group = value_label(r[4])
        if where is not None and group != where:
            continue
        records_, values = out.setdefault((group, r[0] * 60 // bucket_s), ([0], []))
        records_[0] += 1
        if not r[5] and r[column] is not None:
            values.append(float(r[column]))
    return out


def assert_agrees(result, records: list[tuple], bucket_s: int, grouped: bool, where: str | None = None) -> None:
    for s in result.series:
        expected = reference(records, bucket_s, s.metric, where)
        for i, b in enumerate(s.buckets):
            keys = [k for k in expected if k[1] == i and (not grouped or k[0] == s.group)]
            n_records = sum(expected[k][0][0] for k in keys)
            values = np.array([v for k in keys for v in expected[k][1]])
            assert (b.count, b.nulls) == (len(values), n_records - len(values))
            if not len(values):
                assert (b.mean, b.p10, b.ci95) == (None, None, None)
                continue
            assert b.mean == pytest.approx(values.mean(), abs=6e-5)
            if s.metric == "gate_pass_rate":
                ci = wilson_ci(int(values.sum()), len(values))
                assert b.p10 is None
            else:
                ci = mean_ci(len(values), float(values.sum()), float((values * values).sum()))
                assert abs(b.p10 - np.percentile(values, 10)) <= 0.05 + 6e-5
            assert b.ci95 == (None if ci is None else pytest.approx(ci, abs=6e-5))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORD, max_size=80), bucket_s=st.sampled_from([60, 900, 3600]),
       where=st.sampled_from([None, "a", "3", "2.5", "true", "(none)"]))
def test_sql_buckets_agree_with_a_python_reference_on_random_records(store, records, bucket_s, where):
    store_records(store, records)
    metrics = ("faithfulness", "context_recall", "gate_pass_rate")
    plain = query(store, bucket_s=bucket_s, metrics=metrics, where={"m": where} if where else {})
    assert_agrees(plain, records, bucket_s, grouped=False, where=where)
    grouped = query(store, bucket_s=bucket_s, metrics=metrics, group_by="m", top=3)
    assert_agrees(grouped, records, bucket_s, grouped=True)
    counts = Counter(value_label(r[4]) for r in records)
    ranked = sorted(counts, key=lambda g: (-counts[g], g))
    assert [s.group for s in grouped.series if s.metric == "faithfulness"] == ranked[:3]
    assert grouped.groups_left_out == max(0, len(ranked) - 3)


def test_sql_buckets_agree_with_the_python_reference_on_postgresql(pg_url):
    rng = np.random.default_rng(11)
    records = [(int(rng.integers(0, 180)), float(rng.beta(5, 2)), None if rng.random() < 0.2 else float(rng.random()),
                bool(rng.random() < 0.7), [True, 3, "a", 2.5, "", None][int(rng.integers(0, 6))], rng.random() < 0.05)
               for _ in range(600)]
    store = Store(pg_url)
    try:
        store_records(store, records)
        metrics = ("faithfulness", "context_recall", "gate_pass_rate")
        for bucket_s in (60, 900):
            assert_agrees(query(store, bucket_s=bucket_s, metrics=metrics), records, bucket_s, grouped=False)
            for where in ("true", "3", "2.5", "(none)"):
                assert_agrees(query(store, bucket_s=bucket_s, metrics=metrics, where={"m": where}), records,
                              bucket_s, grouped=False, where=where)
            assert_agrees(query(store, bucket_s=bucket_s, metrics=metrics, group_by="m", top=6), records, bucket_s,
                          grouped=True)
    finally:
        store.close()
