"""Schema migrations of the batch store (Alembic), shipped with the package and applied at start-up.

`upgrade(engine)` brings any database to the newest schema: a new one gets every table, one made by a
ragmeter from before migrations (tables made by create_all, no alembic_version) is adopted by the
baseline revision without losing a job. On PostgreSQL an advisory lock makes replicas that start
together migrate one at a time.
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

# Any fixed number: every ragmeter replica takes this PostgreSQL advisory lock while it migrates.
LOCK_KEY = 7_402_613_131


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for the migrations in this folder, run on `connection`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).resolve().parent))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision this ragmeter knows."""
    current = ScriptDirectory.from_config(config()).get_current_head()
    if current is None:
        raise RuntimeError("ragmeter's migrations have no revision")
    return current


def current(connection: Connection) -> str | None:
    """The database's revision; None for an empty database or one made before migrations."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the database to the newest revision; (revision before, revision after)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        before, newest = current(connection), head()
        if before != newest:
            command.upgrade(config(connection), "head")
        return before, newest
