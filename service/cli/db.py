"""`ragmeter db upgrade | current`: the batch store's schema revision (RAGMETER_DB)."""
from __future__ import annotations

import argparse

from sqlalchemy import create_engine

from ragmeter.service.server import migrations
from ragmeter.service.server.batches.store import url_problem
from ragmeter.service.settings import Settings
from ragmeter.service.cli.errors import error


def add_parser(commands) -> None:
    db = commands.add_parser("db", help="migrate the batch store's schema (the service also does it at start-up)")
    actions = db.add_subparsers(dest="action", required=True)
    actions.add_parser("upgrade", help="migrate RAGMETER_DB to this version's schema, keeping every job")
    actions.add_parser("current", help="print the database's schema revision and this version's")


def run(args: argparse.Namespace) -> int:
    url = Settings().db
    if problem := url_problem(url):
        return error(problem)
    engine = create_engine(url)
    try:
        if args.action == "upgrade":
            before, after = migrations.upgrade(engine)
            print(f"already at {after}" if before == after else f"upgraded from {before or '(none)'} to {after}")
        else:
            with engine.connect() as connection:
                print(f"database at {migrations.current(connection) or '(none)'}; this ragmeter at {migrations.head()}")
        return 0
    finally:
        engine.dispose()
