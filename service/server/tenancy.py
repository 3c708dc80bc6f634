"""API keys and the tenants they belong to.

Keys come from the store (`ragmeter keys create NAME`, kept as SHA-256 hashes) and from
RAGMETER_API_KEYS (a JSON object {"name": "key"} for static deployments). A key's tenant is explicit:
`--tenant T` joins tenant T, and without it the key starts a new tenant of its own name, which must not
exist yet (so a key never lands in another team's batches by sharing its name). With no key ever
configured the service is open: every caller is tenant None (and `ragmeter serve` then stays on loopback
unless RAGMETER_ALLOW_OPEN_NETWORK is set).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
from collections.abc import Collection
from datetime import datetime

from fastapi import HTTPException, Request
from sqlalchemy import DateTime, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from ragmeter.service.server.batches.store import Base, Job, Store, changed, now

KEY_PREFIX = "rk_"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")


class ApiKey(Base):
    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    key_hash: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class TenantExists(ValueError):
    """A key without an explicit tenant would have joined an existing tenant of its name."""


def create_key(store: Store, name: str, tenant: str | None = None, static_tenants: Collection[str] = ()) -> str:
    """A new key for `name`, joining `tenant`, or (None) starting a new tenant named `name`: TenantExists when a
    key (live or revoked), a batch or one of `static_tenants` has that tenant. The key is shown once, its hash kept."""
    for label, value in (("name", name), ("tenant", tenant or name)):
        if not _NAME.fullmatch(value):
            raise ValueError(f"a key's {label} is 1 to 64 letters, digits, '.', '_' or '-', not {value!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.begin() as s:
        if s.get(ApiKey, name) is not None:
            raise ValueError(f"a key named {name!r} exists; revoke it first or pick another name")
        if tenant is None and (name in static_tenants or _tenant_in_use(s, name)):
            raise TenantExists(f"a tenant named {name!r} exists: pass --tenant {name} to give this key access to "
                               "its batches, or pick another key name for a new tenant")
        s.add(ApiKey(name=name, tenant=tenant or name, key_hash=digest(key), created_at=now()))
    return key


def _tenant_in_use(s: Session, tenant: str) -> bool:
    """True when any key, revoked ones included, or any stored batch belongs to `tenant`."""
    return (s.scalar(select(ApiKey.name).where(ApiKey.tenant == tenant).limit(1)) is not None
            or s.scalar(select(Job.id).where(Job.tenant == tenant).limit(1)) is not None)


def revoke_key(store: Store, name: str) -> bool:
    """Revoke the key named `name`; False when there is none."""
    with store.begin() as s:
        done = s.execute(update(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
                         .values(revoked_at=now()))
        return changed(done) > 0


def list_keys(store: Store) -> list[ApiKey]:
    with store.session() as s:
        return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))


class KeyRing:
    """Answers "whose key is this?" from the static keys and the store's live keys."""

    def __init__(self, store: Store, static: dict[str, str]):
        self.store = store
        self.static = {digest(key): name for name, key in static.items()}

    def configured(self) -> bool:
        """True once any key exists; revoking the last key must not open the service."""
        if self.static:
            return True
        with self.store.session() as s:
            return s.scalar(select(ApiKey.name).limit(1)) is not None

    def tenant_of(self, key: str) -> str | None:
        hashed = digest(key)
        for known, name in self.static.items():
            if hmac.compare_digest(known, hashed):
                return name
        with self.store.session() as s:
            row = s.scalar(select(ApiKey).where(ApiKey.key_hash == hashed, ApiKey.revoked_at.is_(None)))
            return row.tenant if row is not None else None


def presented_key(request: Request) -> str | None:
    """The key from `Authorization: Bearer ...`, `X-API-Key`, or (for the web page) `?api_key=`."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("api_key")


async def get_tenant(request: Request) -> str | None:
    """The caller's tenant; None in open mode. 401 when keys are configured and none valid was presented."""
    ring: KeyRing = request.app.state.keys
    if not await asyncio.to_thread(ring.configured):
        return None
    key = presented_key(request)
    tenant = await asyncio.to_thread(ring.tenant_of, key) if key else None
    if tenant is None:
        # Someone debugging a typo should not be told to send the key they sent.
        detail = ("this API key is not known or was revoked" if key else
                  "an API key is required: Authorization: Bearer <key> or X-API-Key: <key>")
        raise HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})
    request.app.state.quota.request(tenant)
    return tenant


def open_network_problem(host: str, settings) -> str | None:
    """Why serving on `host` without keys is refused: open mode is for loopback unless explicitly allowed."""
    if host in ("127.0.0.1", "localhost", "::1") or settings.allow_open_network:
        return None
    ring = KeyRing(Store(settings.db), settings.api_keys)
    try:
        if ring.configured():
            return None
    finally:
        ring.store.close()
    return (f"no API keys are configured, so anyone who reaches {host} could read every batch: create one with "
            "`ragmeter keys create NAME` (or set RAGMETER_API_KEYS), or set RAGMETER_ALLOW_OPEN_NETWORK=true")
