"""Schema migrations: a new database gets today's schema, and one made before migrations is upgraded in place."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from ragmeter.metrics import GateConfig, Sample
from ragmeter.service.server import migrations
from ragmeter.service.server.batches.store import Base, Store
from ragmeter.service.cli import main
from ragmeter.service.rows import RowStatus
from ragmeter.service.server.tenancy import create_key, list_keys  # noqa: F401  (its table is part of the schema)
from ragmeter.service.server.traffic import tables as traffic_tables  # noqa: F401  (records, roll-ups, alerts)
from sqlalchemy import create_engine, text

from .helpers import rows

# What create_all made before migrations (the version of the API keys, before the jobs' tenant column was
# added by the old start-up check), with one job half scored.
OLD_SCHEMA = """
CREATE TABLE api_keys (name VARCHAR(64) NOT NULL, tenant VARCHAR(64) NOT NULL, key_hash VARCHAR(64) NOT NULL,
    created_at {ts} NOT NULL, revoked_at {ts}, PRIMARY KEY (name));
CREATE INDEX ix_api_keys_key_hash ON api_keys (key_hash);
CREATE TABLE jobs (id VARCHAR(36) NOT NULL, status VARCHAR(16) NOT NULL, filename VARCHAR(512) NOT NULL,
    total INTEGER NOT NULL, metrics JSON NOT NULL, gate JSON NOT NULL, created_at {ts} NOT NULL, started_at {ts},
    finished_at {ts}, message TEXT, done_at_start INTEGER NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_jobs_status ON jobs (status);
CREATE TABLE rows (job_id VARCHAR(36) NOT NULL, "index" INTEGER NOT NULL, sample JSON NOT NULL,
    status VARCHAR(16) NOT NULL, result JSON, error TEXT, attempts INTEGER NOT NULL, PRIMARY KEY (job_id, "index"),
    FOREIGN KEY(job_id) REFERENCES jobs (id) ON DELETE CASCADE);
CREATE INDEX ix_rows_status ON rows (status);
INSERT INTO jobs VALUES ('old-job', 'running', 'old.jsonl', 3, '["faithfulness"]', '{{}}', '2026-01-02 03:04:05',
    '2026-01-02 03:04:06', NULL, NULL, 0);
INSERT INTO rows VALUES ('old-job', 0, '{s0}', 'scored', '{{"kept": true}}', NULL, 1);
INSERT INTO rows VALUES ('old-job', 1, '{s1}', 'error', NULL, 'RuntimeError: boom', 1);
INSERT INTO rows VALUES ('old-job', 2, '{s2}', 'pending', NULL, NULL, 0);
"""
SAMPLES = [Sample.model_validate(r) for r in rows(3)]


def make_old_database(url: str, ts: str) -> None:
    engine = create_engine(url)
    samples = {f"s{i}": s.model_dump_json() for i, s in enumerate(SAMPLES)}
    with engine.begin() as c:
        for statement in OLD_SCHEMA.format(ts=ts, **samples).split(";"):
            if statement.strip():
                c.exec_driver_sql(statement)
    engine.dispose()


def schema_drift(store: Store) -> list:
    """What differs between the models and the migrated database (empty when the revisions cover every model)."""
    with store.engine.connect() as c:
        return compare_metadata(MigrationContext.configure(c), Base.metadata)


def check_upgraded(url: str) -> None:
    store = Store(url)
    try:
        with store.engine.connect() as c:
            assert migrations.current(c) == migrations.head()
        assert schema_drift(store) == []
        job = store.job("old-job")
        assert job is not None
        assert (job.status, job.total, job.tenant, job.metrics) == ("running", 3, None, ["faithfulness"])
        kept = store.rows("old-job")
        assert [(r.status, r.result, r.error, r.attempts) for r in kept] == [
            (RowStatus.SCORED, {"kept": True}, None, 1), (RowStatus.ERROR, None, "RuntimeError: boom", 1),
            (RowStatus.PENDING, None, None, 0)]
        assert [r.to_sample() for r in kept] == SAMPLES
        claimed = store.claim("old-job", "me", 10, 30)  # the upgraded rows take leases like new ones
        assert [r.index for r in claimed] == [2]
        assert store.finish_row("old-job", 2, None, "RuntimeError: later", owner="me")
        assert store.complete("old-job")
        done = store.job("old-job")
        assert done is not None and done.status == "done"
        store.create_job("new.jsonl", SAMPLES, ["faithfulness"], GateConfig(), tenant="t")
    finally:
        store.close()


def test_a_new_database_gets_every_table_at_the_newest_revision(job_store):
    store = Store(job_store)
    try:
        with store.engine.connect() as c:
            assert migrations.current(c) == migrations.head() != "0001"
        assert schema_drift(store) == []
    finally:
        store.close()
    Store(job_store).close()  # opening it again changes nothing


def test_a_sqlite_database_from_before_migrations_is_upgraded_without_losing_jobs(tmp_path):
    url = f"sqlite:///{tmp_path}/old.db"
    make_old_database(url, "DATETIME")
    check_upgraded(url)


def test_a_postgresql_database_from_before_migrations_is_upgraded_without_losing_jobs(pg_url):
    make_old_database(pg_url, "TIMESTAMP WITH TIME ZONE")
    check_upgraded(pg_url)


def test_a_new_postgresql_database_matches_the_models(pg_url):
    store = Store(pg_url)
    try:
        assert schema_drift(store) == []
    finally:
        store.close()


def test_db_upgrade_command_migrates_and_says_to_which_revision(tmp_path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path}/old.db"
    make_old_database(url, "DATETIME")
    monkeypatch.setenv("RAGMETER_DB", url)
    assert main(["db", "upgrade"]) == 0
    assert f"from (none) to {migrations.head()}" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"already at {migrations.head()}" in capsys.readouterr().out
    with create_engine(url).connect() as c:
        assert c.execute(text("SELECT count(*) FROM rows")).scalar() == 3


def test_db_upgrade_refuses_an_unusable_url(monkeypatch, capsys):
    monkeypatch.setenv("RAGMETER_DB", "nosuchdb://x")
    assert main(["db", "upgrade"]) != 0
    assert "cannot use RAGMETER_DB" in capsys.readouterr().err


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_each_revision_is_shipped_in_the_package(revision):
    from alembic.script import ScriptDirectory

    assert ScriptDirectory.from_config(migrations.config()).get_revision(revision) is not None
