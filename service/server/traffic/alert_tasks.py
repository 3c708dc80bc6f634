"""Starting and stopping a process's alert tasks: the rule evaluator and the webhook deliverer."""
from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from ragmeter.service.server.traffic.alerts import AlertEvaluator
from ragmeter.service.server.traffic.webhooks import Deliverer, Policy
from ragmeter.service.settings import Settings


@dataclass
class Alerting:
    evaluator: AlertEvaluator
    deliverer: Deliverer

    async def stop(self) -> None:
        await self.evaluator.stop()
        await self.deliverer.stop()


def policy_of(settings: Settings) -> Policy:
    return Policy(timeout_s=settings.alert_webhook_timeout_s, max_attempts=settings.alert_webhook_max_attempts,
                  backoff_s=settings.alert_webhook_backoff_s, allow_private=settings.alert_allow_private_webhooks)


def start(app: FastAPI, settings: Settings) -> Alerting:
    """Start both tasks on the running loop; the evaluator listens to scored records (app.state.record_listeners)."""
    store = app.state.store.sync
    deliverer = Deliverer(store, policy_of(settings), poll_s=settings.poll_s)
    evaluator = AlertEvaluator(store, every_s=settings.alert_eval_s, base_url=settings.public_url,
                               on_event=deliverer.poke)
    if not hasattr(app.state, "record_listeners"):
        app.state.record_listeners = []
    app.state.record_listeners.append(evaluator.mark)
    app.state.alerts = evaluator
    deliverer.start()
    evaluator.start()
    return Alerting(evaluator, deliverer)
