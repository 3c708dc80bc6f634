"""Production records: POST /v1/records answers 202 once stored, the runner scores them in the background, once."""
from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from ragmeter.metrics import GateConfig, Sample
from ragmeter.service.server.app import create_app
from ragmeter.service.server.batches.runner import BatchRunner
from ragmeter.service.server.batches.store import AsyncStore, Store
from ragmeter.service.server.traffic.runner import RecordQueue
from ragmeter.service.server.traffic.store import AsyncRecordStore, NewRecord, RecordStore
from ragmeter.service.settings import Settings

from .helpers import SAMPLE, Clock, StubJudge, Watched

TIMEOUT = 30


def record(i: int = 0, **extra) -> dict:
    return {**SAMPLE, "id": f"r{i}", **extra}


def wait_until(condition, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


class GatedJudge(StubJudge):
    """Holds every sample until the test opens the gate (from its own thread)."""

    def __init__(self):
        super().__init__()
        self.opened = False
        self.entered = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Event | None = None

    async def decompose(self, sample, need, usage):
        if not self.opened:
            self._loop = asyncio.get_running_loop()
            self._gate = self._gate or asyncio.Event()
            self.entered.set()
            await self._gate.wait()
        return await super().decompose(sample, need, usage)

    def open(self):
        self.opened = True
        if self._loop is not None and self._gate is not None:
            self._loop.call_soon_threadsafe(self._gate.set)


def client(judge=None, **settings) -> TestClient:
    return TestClient(create_app(Settings(**settings), judge=judge or StubJudge()))


def status_of(c: TestClient, record_id: str, **headers) -> str:
    return c.get(f"/v1/records/{record_id}", headers=headers).json()["status"]


def test_records_are_accepted_at_once_then_scored_in_the_background():
    judge = GatedJudge()
    with client(judge) as c:
        heard: list[tuple] = []
        c.app.state.record_listeners.extend([lambda tenant, app: 1 / 0,
                                             lambda tenant, app: heard.append((tenant, app))])
        answer = c.post("/v1/records", json={"app": "bot", "records": [record(0), record(1, app="other")]})
        assert answer.status_code == 202
        body = answer.json()
        assert body["accepted"] == 2 and body["duplicates"] == body["sampled_out"] == 0
        first, second = body["ids"]
        assert judge.entered.wait(TIMEOUT)  # scoring has started, and is held
        assert status_of(c, first) == "pending"
        judge.open()
        wait_until(lambda: status_of(c, first) == status_of(c, second) == "scored")
        got = c.get(f"/v1/records/{first}").json()
        assert got["app"] == "bot" and got["sample"]["id"] == "r0" and got["attempts"] == 1
        assert got["result"]["gate"]["passed"] is False  # the stub judge: the answer is one unsupported claim
        assert c.get(f"/v1/records/{second}").json()["app"] == "other"
        wait_until(lambda: len(heard) == 2)  # a listener that raises does not stop the others or the runner
        assert sorted(heard) == [(None, "bot"), (None, "other")]
        telemetry = c.app.state.telemetry.registry
        assert telemetry.get_sample_value("ragmeter_samples_scored_total", {"source": "records"}) == 2


def test_the_list_is_newest_first_paged_and_filtered():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with client(StubJudge(hang_after=0)) as c:
        records = [record(i, timestamp=(start + timedelta(minutes=i)).isoformat(), app="a" if i % 2 else "b")
                   for i in range(5)]
        assert c.post("/v1/records", json={"records": records}).status_code == 202
        page = c.get("/v1/records", params={"limit": 2}).json()
        assert [r["sample_id"] for r in page["records"]] == ["r4", "r3"]
        rest = c.get("/v1/records", params={"limit": 2, "before": page["next_before"]}).json()
        assert [r["sample_id"] for r in rest["records"]] == ["r2", "r1"]
        only_a = c.get("/v1/records", params={"app": "a"}).json()["records"]
        assert [r["sample_id"] for r in only_a] == ["r3", "r1"]
        assert only_a[0]["timestamp"].startswith("2026-01-01T00:03:00")
        assert c.get("/v1/records", params={"status": "scored"}).json()["records"] == []


def test_an_accepted_record_survives_an_app_that_stops_before_scoring_it():
    with client(StubJudge(hang_after=0)) as c:  # scoring hangs: nothing is ever finished
        ids = c.post("/v1/records", json={"records": [record(i) for i in range(3)]}).json()["ids"]
        assert {status_of(c, i) for i in ids} == {"pending"}
    with client(StubJudge()) as c:  # the same database (RAGMETER_DB), a new process
        wait_until(lambda: {status_of(c, i) for i in ids} == {"scored"})
        # Scored once each: by the new process, after the first one's claim (if it got that far) lapsed.
        assert {c.get(f"/v1/records/{i}").json()["attempts"] for i in ids} <= {1, 2}


def test_a_replica_without_background_scoring_stores_and_another_scores():
    # An API replica that never scores (its requests keep the CPU and the GIL), and a scoring replica on the same
    # database: records and batch rows accepted by the first are scored by the second, once.
    api_judge, scorer_judge = StubJudge(), StubJudge()
    with client(api_judge, background_scoring=False) as api:
        ready = api.get("/readyz").json()
        assert ready["ready"] is True and ready["executor"]["background_scoring"] is False
        ids = api.post("/v1/records", json={"records": [record(i) for i in range(3)]}).json()["ids"]
        assert {status_of(api, i) for i in ids} == {"pending"}
        assert not api.app.state.runner.queues  # nothing here claims records
        with client(scorer_judge, poll_s=0.05) as scorer:
            wait_until(lambda: {status_of(api, i) for i in ids} == {"scored"})
            assert {api.get(f"/v1/records/{i}").json()["attempts"] for i in ids} == {1}
            assert scorer.get("/readyz").json()["executor"]["background_scoring"] is True
    assert sum(api_judge.calls.values()) == 0 and sorted(scorer_judge.calls) == ["r0", "r1", "r2"]


def test_a_retried_send_is_stored_once():
    with client(StubJudge(hang_after=0)) as c:
        first = c.post("/v1/records", json={"records": [record(1), record(1), record(2)]}).json()
        assert (first["accepted"], first["duplicates"]) == (2, 1)
        assert first["ids"][0] == first["ids"][1] != first["ids"][2]
        again = c.post("/v1/records", json={"records": [record(1), record(2)]}).json()
        assert (again["accepted"], again["duplicates"]) == (0, 2) and again["ids"] == first["ids"][1:]
        other_app = c.post("/v1/records", json={"app": "elsewhere", "records": [record(1)]}).json()
        assert other_app["accepted"] == 1 and other_app["ids"][0] not in first["ids"]
        no_id = {k: v for k, v in SAMPLE.items()}
        assert c.post("/v1/records", json={"records": [no_id, no_id]}).json()["accepted"] == 2
        assert len(c.get("/v1/records").json()["records"]) == 5


def test_sampling_keeps_none_at_rate_zero_and_whole_traces_at_half():
    with client(StubJudge(hang_after=0), record_sample_rate=0.0) as c:
        body = c.post("/v1/records", json={"records": [record(i) for i in range(4)]}).json()
        assert body == {"accepted": 0, "ids": [], "sampled_out": 4, "duplicates": 0}
        assert c.get("/v1/records").json()["records"] == []
    traces = [f"{i:032x}" for i in range(100)]
    sent = [record(i, trace_id=traces[i // 2]) for i in range(200)]  # two records per trace
    with client(StubJudge(hang_after=0), record_sample_rate=0.5) as c:
        kept = c.post("/v1/records", json={"records": sent}).json()
        stored = {r["trace_id"] for r in c.get("/v1/records", params={"limit": 500}).json()["records"]}
        assert 20 < len(stored) < 80 and kept["accepted"] == 2 * len(stored)  # a trace is kept or dropped whole
    with client(StubJudge(hang_after=0), record_sample_rate=0.5) as c:  # another process decides the same
        again = c.post("/v1/records", json={"records": sent}).json()
        assert {r["trace_id"] for r in c.get("/v1/records", params={"limit": 500}).json()["records"]} == stored
        assert again["duplicates"] == kept["accepted"] and again["sampled_out"] == kept["sampled_out"]


def test_a_tenant_of_its_own_rate():
    keys = {"quiet": "kq", "loud": "kl"}
    with client(StubJudge(hang_after=0), api_keys=keys, record_sample_rates={"quiet": 0.0}) as c:
        batch = {"records": [record(i) for i in range(3)]}
        assert c.post("/v1/records", json=batch, headers={"x-api-key": "kq"}).json()["sampled_out"] == 3
        assert c.post("/v1/records", json=batch, headers={"x-api-key": "kl"}).json()["accepted"] == 3


def test_a_full_backlog_answers_429_with_retry_after_and_stores_nothing():
    with client(StubJudge(hang_after=0), record_max_backlog=3) as c:
        assert c.post("/v1/records", json={"records": [record(i) for i in range(3)]}).status_code == 202
        refused = c.post("/v1/records", json={"records": [record(9)]})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert "RAGMETER_RECORD_MAX_BACKLOG" in refused.json()["detail"]
        assert c.post("/v1/records", json={"records": [record(i) for i in range(10, 14)]}).status_code == 413
        assert len(c.get("/v1/records").json()["records"]) == 3


def test_the_rate_behind_retry_after_counts_from_the_first_record_scored_not_the_whole_minute(monkeypatch):
    from types import SimpleNamespace

    from ragmeter.service.server.traffic import runner

    now = [1000.0]
    monkeypatch.setattr(runner, "time", SimpleNamespace(monotonic=lambda: now[0]))
    queue = RecordQueue(None)
    assert queue.rate() is None
    queue._finished.extend([1000.0] * 30)  # a burst: 30 records scored in its first half second
    now[0] = 1000.5
    assert queue.rate() == 30.0  # per second (the span counts at least 1 s), not 30 / 60
    now[0] = 1030.0
    assert queue.rate() == 1.0
    now[0] = 1060.0
    assert queue.rate() == 0.5  # never over more than the last minute
    now[0] = 1061.0
    assert queue.rate() is None  # all older than a minute


def test_the_daily_quota_counts_records():
    with client(StubJudge(hang_after=0), api_keys={"t": "k"}, samples_per_day=4) as c:
        h = {"x-api-key": "k"}
        send = lambda *ids: c.post("/v1/records", json={"records": [record(i) for i in ids]}, headers=h)  # noqa: E731
        assert send(1, 2).status_code == 202
        assert send(1, 2).json()["duplicates"] == 2  # a retried send is not counted again...
        assert send(3, 4).status_code == 202  # ...so these two still fit
        refused = send(5)
        assert refused.status_code == 429 and "quota" in refused.json()["detail"]
        # With the quota used up, a backfill retried whole is still answered: its records are all stored.
        again = send(1, 2, 3, 4)
        assert again.status_code == 202 and again.json()["duplicates"] == 4
        assert send(4, 5).status_code == 429  # one of them is new


def test_a_record_dated_more_than_a_day_ahead_is_refused():
    with client(StubJudge(hang_after=0)) as c:
        ahead = (datetime.now(UTC) + timedelta(days=2)).isoformat()
        soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()  # a client clock a little ahead: kept
        locs = problem_locs(c.post("/v1/records", json={"records": [record(1, timestamp=soon),
                                                                    record(2, timestamp=ahead)]}))
        assert locs == [["body", "records", 1, "timestamp"]]
        assert c.post("/v1/records", json={"records": [record(1, timestamp=soon)]}).status_code == 202
        # At the edges of the calendar, converting to UTC overflows: a 422 naming the field, not a 500.
        for edge in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+14:00"):
            assert problem_locs(c.post("/v1/records", json={"records": [record(3, timestamp=edge)]})) == [
                ["body", "records", 0, "timestamp"]]


def test_another_key_cannot_see_a_record():
    with client(StubJudge(hang_after=0), api_keys={"a": "ka", "b": "kb"}) as c:
        assert c.post("/v1/records", json={"records": [record()]}).status_code == 401
        mine = c.post("/v1/records", json={"records": [record()]}, headers={"x-api-key": "ka"}).json()["ids"][0]
        assert c.get(f"/v1/records/{mine}", headers={"x-api-key": "ka"}).status_code == 200
        assert c.get(f"/v1/records/{mine}", headers={"x-api-key": "kb"}).status_code == 404
        assert c.get("/v1/records", headers={"x-api-key": "kb"}).json()["records"] == []
        assert c.get("/v1/records", params={"before": mine}, headers={"x-api-key": "kb"}).status_code == 404
        # The same caller id under another tenant is another record, not a duplicate.
        theirs = c.post("/v1/records", json={"records": [record()]}, headers={"x-api-key": "kb"}).json()
        assert theirs["accepted"] == 1


def problem_locs(answer) -> list[list]:
    assert answer.status_code == 422, answer.text
    return [p["loc"] for p in answer.json()["detail"]]


def test_hostile_records_get_422_naming_the_field_and_nothing_is_stored():
    with client(StubJudge(hang_after=0), max_context_chars=100) as c:
        post = lambda body: c.post("/v1/records", json=body)  # noqa: E731
        assert problem_locs(post({"records": [record(), record(timestamp="yesterday-ish")]})) == \
            [["body", "records", 1, "timestamp"]]
        assert ["body", "records", 0, "app"] in problem_locs(post({"records": [record(app="x" * 500)]}))
        assert problem_locs(post({"app": "y" * 500, "records": [record()]})) == [["body", "app"]]
        assert problem_locs(post({"records": [record(retrieved_contexts=["z" * 101])]})) == \
            [["body", "records", 0, "retrieved_contexts", 0]]
        assert problem_locs(post({"records": [record(retrieved_contexts=[])]})) == \
            [["body", "records", 0, "retrieved_contexts"]]
        surrogate = b'{"records": [{"user_input": "q", "contexts": ["c"], "response": "a \\ud800"}]}'
        answer = c.post("/v1/records", content=surrogate, headers={"content-type": "application/json"})
        assert problem_locs(answer) == [["body", "records", 0, "response"]]
        bad_app = b'{"records": [{"user_input": "q", "contexts": ["c"], "response": "a", "app": "\\udfff"}]}'
        answer = c.post("/v1/records", content=bad_app, headers={"content-type": "application/json"})
        assert problem_locs(answer) == [["body", "records", 0, "app"]]
        assert c.post("/v1/records", json={"records": []}).status_code == 422
        assert c.get("/v1/records").json()["records"] == []


def test_no_judge_is_a_503_not_records_that_never_get_scored(monkeypatch):
    monkeypatch.setenv("RAGMETER_JUDGE", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with TestClient(create_app(Settings())) as c:
        assert c.post("/v1/records", json={"records": [record()]}).status_code == 503


# Several processes on one database: the runner's leases, as for batch rows (tests/test_leases.py).

@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, job_store):
    return job_store if request.param == "sqlite" else request.getfixturevalue("pg_url")


async def until(condition) -> None:
    while not await condition():
        await asyncio.sleep(0.01)


def new_records(n: int) -> list[NewRecord]:
    return [NewRecord(Sample.model_validate(record(i)), app="bot") for i in range(n)]


async def test_two_runners_on_one_database_score_each_record_exactly_once(url):
    stores = [Store(url), Store(url)]
    records = [AsyncRecordStore(RecordStore(s)) for s in stores]
    try:
        added = await records[0].add(None, new_records(30), ["faithfulness"], GateConfig())
        in_flight, overlaps = {}, []
        judges = [Watched(in_flight, overlaps), Watched(in_flight, overlaps)]
        runners = [BatchRunner(AsyncStore(s), j, 3, poll_s=0.01) for s, j in zip(stores, judges, strict=True)]
        queues = [RecordQueue(r) for r in records]
        for runner, queue in zip(runners, queues, strict=True):
            runner.serve(queue)
        await asyncio.wait_for(until(lambda: asyncio.to_thread(lambda: records[0].sync.pending() == 0)), TIMEOUT)
        for runner in runners:
            await runner.stop()
        assert overlaps == []
        assert judges[0].calls + judges[1].calls == {f"r{i}": 1 for i in range(30)}
        got = [records[1].sync.get(i) for i in added.ids]
        assert {(r.status, r.attempts, r.lease_owner) for r in got} == {("scored", 1, None)}
        assert all(r.faithfulness is not None and r.scored_at is not None for r in got)
        assert queues[0].discarded == queues[1].discarded == 0
    finally:
        for s in stores:
            s.close()


async def test_records_another_replica_stored_are_found_by_polling(job_store):
    store = Store(job_store)
    records = AsyncRecordStore(RecordStore(store))
    try:
        runner = BatchRunner(AsyncStore(store), StubJudge(), 2, poll_s=0.01)
        runner.serve(RecordQueue(records))  # idle: nothing stored yet
        other = RecordStore(Store(job_store))  # another replica stores records; nobody wakes this runner
        added = await asyncio.to_thread(other.add, None, new_records(3), ["faithfulness"], GateConfig())
        await asyncio.wait_for(until(lambda: asyncio.to_thread(lambda: records.sync.pending() == 0)), TIMEOUT)
        await runner.stop()
        assert {records.sync.get(i).status for i in added.ids} == {"scored"}
        other.store.close()
    finally:
        store.close()


async def test_records_of_a_runner_that_died_are_taken_over_when_its_lease_lapses(url):
    clock = Clock()
    stores = [Store(url, clock=clock), Store(url, clock=clock)]
    records = [AsyncRecordStore(RecordStore(s)) for s in stores]
    try:
        added = await records[0].add(None, new_records(4), ["faithfulness"], GateConfig())
        dying = StubJudge(hang_after=0)
        first = BatchRunner(AsyncStore(stores[0]), dying, 2, poll_s=0.01)
        first.serve(RecordQueue(records[0]))
        await asyncio.wait_for(until(lambda: asyncio.sleep(0, dying.hanging.is_set())), TIMEOUT)
        await asyncio.wait_for(until(lambda: asyncio.to_thread(
            lambda: sum(records[0].sync.get(i).lease_owner == first.owner for i in added.ids) == 2)), TIMEOUT)
        await first.halt()  # killed mid-record: its two leases stay in the store
        survivor = BatchRunner(AsyncStore(stores[1]), StubJudge(), 2, poll_s=0.01)
        survivor.serve(RecordQueue(records[1]))
        await asyncio.wait_for(until(lambda: asyncio.to_thread(lambda: records[1].sync.pending() == 2)), TIMEOUT)
        clock.advance(31)  # the dead runner's leases lapse
        await asyncio.wait_for(until(lambda: asyncio.to_thread(lambda: records[1].sync.pending() == 0)), TIMEOUT)
        await survivor.stop()
        assert sorted(records[1].sync.get(i).attempts for i in added.ids) == [1, 1, 2, 2]
    finally:
        for s in stores:
            s.close()


class Ordered(StubJudge):
    """Notes the order in which samples start being scored, once the test says go."""

    def __init__(self):
        super().__init__()
        self.order: list[str] = []
        self.go = asyncio.Event()

    async def decompose(self, sample, need, usage):
        await self.go.wait()
        self.order.append(str(sample.id))
        await asyncio.sleep(0)
        return await super().decompose(sample, need, usage)


async def test_records_and_a_batch_take_the_slots_in_turn(job_store):
    store = Store(job_store)
    records = AsyncRecordStore(RecordStore(store))
    try:
        await records.add(None, new_records(30), ["faithfulness"], GateConfig())
        judge = Ordered()
        runner = BatchRunner(AsyncStore(store), judge, 2, poll_s=0.01)
        runner.serve(RecordQueue(records))  # the flood of records is there first
        rows = [Sample.model_validate({**SAMPLE, "id": f"row{i}"}) for i in range(5)]
        job = await AsyncStore(store).create_job("set.jsonl", rows, ["faithfulness"], GateConfig())
        runner.start(job.id)
        await asyncio.wait_for(until(lambda: asyncio.sleep(0, len(runner.slots()._waiters or ()) == 2)), TIMEOUT)
        judge.go.set()  # both the records and the batch now wait for a slot
        await asyncio.wait_for(runner.tasks[job.id], TIMEOUT)
        batch_done_after = max(judge.order.index(f"row{i}") for i in range(5)) + 1
        # About every other slot (2 + 2 * 5: 8 to 13 in 25 runs), not after the 30 records (32 or more). Thread hops
        # between a slot and the recorded call jitter the order (20 was seen on a loaded machine), so the bound sits
        # halfway between the two.
        assert batch_done_after <= 24, judge.order
        await asyncio.wait_for(until(lambda: asyncio.to_thread(lambda: records.sync.pending() == 0)), TIMEOUT)
        await runner.stop()
    finally:
        store.close()


def tenant_records(prefix: str, n: int) -> list[NewRecord]:
    return [NewRecord(Sample.model_validate({**SAMPLE, "id": f"{prefix}{i}"}), app="bot") for i in range(n)]


async def test_a_tenant_flooding_the_queue_does_not_hold_back_another_tenants_records(job_store):
    store = Store(job_store)
    records = AsyncRecordStore(RecordStore(store))
    try:
        await records.add("flood", tenant_records("a", 1000), ["faithfulness"], GateConfig())
        await records.add("small", tenant_records("b", 5), ["faithfulness"], GateConfig())  # after the flood
        judge = Ordered()
        judge.go.set()
        runner = BatchRunner(AsyncStore(store), judge, 2, poll_s=0.01)
        runner.serve(RecordQueue(records))
        await asyncio.wait_for(until(lambda: asyncio.to_thread(lambda: records.sync.backlog("small") == 0)), TIMEOUT)
        await runner.stop()
        assert max(judge.order.index(f"b{i}") for i in range(5)) < 30  # every other claim (9), not after 1,000
        assert [i for i in judge.order if i.startswith("a")][:5] == ["a0", "a1", "a2", "a3", "a4"]  # oldest first
    finally:
        store.close()


def test_claims_take_each_tenants_oldest_record_in_turn_open_mode_included(url):
    store = Store(url)
    try:
        records = RecordStore(store)
        records.add("y", tenant_records("y", 3), ["faithfulness"], GateConfig())
        records.add("x", tenant_records("x", 1), ["faithfulness"], GateConfig())
        records.add(None, tenant_records("open", 2), ["faithfulness"], GateConfig())
        taken = [r.sample["id"] for _ in range(4) for r in records.claim("me", 1, 30)]
        taken += [r.sample["id"] for r in records.claim("me", 5, 30)]  # one call takes turns too
        assert taken == ["open0", "x0", "y0", "open1", "y1", "y2"]
        assert records.claim("me", 5, 30) == []  # every record is leased
    finally:
        store.close()
