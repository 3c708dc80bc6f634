"""Alert rules and events in the store: create, list, read, delete, each scoped to a tenant (None: open mode)."""
from __future__ import annotations

from sqlalchemy import delete, select

from ragmeter.service.server.batches.store import Store
from ragmeter.service.server.traffic.alerts import OK, new_rule_id
from ragmeter.service.server.traffic.tables import AlertEvent, AlertRule


def _mine(query, model, tenant: str | None):
    # Open mode (tenant None) sees everything, as with batches.
    return query if tenant is None else query.where(model.tenant == tenant)


def create_rule(store: Store, tenant: str | None, fields: dict) -> AlertRule:
    """Store a new rule (state ok) for `tenant`; `fields` are AlertRule columns."""
    rule = AlertRule(id=new_rule_id(), tenant=tenant, state=OK, created_at=store.clock(), **fields)
    with store.begin() as s:
        s.add(rule)
    return rule


def list_rules(store: Store, tenant: str | None) -> list[AlertRule]:
    with store.session() as s:
        return list(s.scalars(_mine(select(AlertRule), AlertRule, tenant).order_by(AlertRule.created_at)))


def get_rule(store: Store, tenant: str | None, rule_id: str) -> AlertRule | None:
    """The rule; None when it does not exist or belongs to another tenant."""
    with store.session() as s:
        rule = s.get(AlertRule, rule_id)
    return rule if rule is not None and (tenant is None or rule.tenant == tenant) else None


def delete_rule(store: Store, tenant: str | None, rule_id: str) -> bool:
    """Delete the rule and its events (undelivered ones are not sent); False when there is no such rule."""
    with store.begin() as s:
        found = s.scalar(_mine(select(AlertRule.id).where(AlertRule.id == rule_id), AlertRule, tenant))
        if found is None:
            return False
        # Events first: SQLite enforces no foreign keys here, so ON DELETE CASCADE would not take them.
        s.execute(delete(AlertEvent).where(AlertEvent.rule_id == rule_id))
        s.execute(delete(AlertRule).where(AlertRule.id == rule_id))
    return True


def events(store: Store, tenant: str | None, limit: int, rule_id: str | None = None
           ) -> list[tuple[AlertEvent, str, bool]]:
    """The most recent events first, each with its rule's name and whether the rule has a webhook."""
    query = (select(AlertEvent, AlertRule.name, AlertRule.webhook_url.is_not(None))
             .join(AlertRule, AlertRule.id == AlertEvent.rule_id).order_by(AlertEvent.id.desc()).limit(limit))
    if rule_id is not None:
        query = query.where(AlertEvent.rule_id == rule_id)
    with store.session() as s:
        return [(event, name, bool(hooked)) for event, name, hooked in s.execute(_mine(query, AlertEvent, tenant))]
