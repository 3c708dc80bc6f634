"""`ragmeter keys create NAME | revoke NAME | list`: API keys in the batch store (RAGMETER_DB)."""
from __future__ import annotations

import argparse

from ragmeter.service.server.batches.store import Store
from ragmeter.service.settings import Settings
from ragmeter.service.server.tenancy import create_key, list_keys, revoke_key
from ragmeter.service.cli.errors import err, error


def add_parser(commands) -> None:
    keys = commands.add_parser("keys", help="create, revoke and list API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="make a key; it is printed once, only its hash is kept")
    create.add_argument("name")
    create.add_argument("--tenant", help="the existing or new tenant whose batches the key sees; without it the key "
                                         "starts a new tenant of its own name, refused if that tenant exists")
    revoke = actions.add_parser("revoke", help="revoke a key at once")
    revoke.add_argument("name")
    actions.add_parser("list", help="names, tenants and states of the keys")


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    store = Store(settings.db)
    try:
        if args.action == "create":
            try:
                key = create_key(store, args.name, args.tenant, static_tenants=settings.api_keys)
            except ValueError as exc:
                return error(exc)
            tenant = args.tenant or args.name
            err.print(f"key {args.name!r} created for tenant {tenant!r}; it is shown once, store it now:")
            print(key)
        elif args.action == "revoke":
            if not revoke_key(store, args.name):
                return error(f"no live key named {args.name!r}")
            err.print(f"key {args.name!r} revoked")
        else:
            for api_key in list_keys(store):
                state = f"revoked {api_key.revoked_at:%Y-%m-%d}" if api_key.revoked_at else "live"
                print(f"{api_key.name}\ttenant={api_key.tenant}\t{state}")
        return 0
    finally:
        store.close()
