"""What the customer service does on other services' events. Each reads exactly the
fields its producer's schema declares (`events.opportunity`, `events.tasks`); the
consumer has checked the data against that schema before."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from crmkit.bus.ordering import parse_instant

from services.customer.handlers.base import HandlerBase


class ReactionHandlers(HandlerBase):
    def on_opportunity_won(self, envelope: dict) -> None:
        """opportunity.won: the customer becomes a deal, deal_amount grows by
        `won_amount`, last_deal_on moves to `signed_on` (OpportunityWonV1)."""
        data = envelope["data"]
        amount = Decimal(data["won_amount"])
        signed_on = date.fromisoformat(data["signed_on"])
        self.react(data["customer_id"], envelope["id"], lambda c: c.record_deal(
            envelope["id"], amount=amount, signed_on=signed_on,
            opportunity_id=data["opportunity_id"], actor_id=envelope.get("actor_id"),
            now=self.now()))

    def on_task_completed(self, envelope: dict) -> None:
        """task.completed: a follow-up of each customer of the task, when the task was
        customer work (`counts_as_followup`, TaskCompletedData)."""
        data = envelope["data"]
        if not data["counts_as_followup"]:
            return  # internal work is not contact with the customer
        completed: datetime = (parse_instant(data.get("completed_at"))
                               or parse_instant(envelope.get("occurred_at")) or self.now())
        for customer_id in data["customer_ids"]:
            self.react(customer_id, envelope["id"], lambda c: c.record_task_followup(
                envelope["id"], completed_at=completed, task_id=data["task_id"],
                actor_id=envelope.get("actor_id"), now=self.now()))

    def on_user_changed(self, user_id: str, profile: dict) -> None:
        """Our copy of the directory changed: the owner fields of their customers
        follow a move or a rename."""
        if {"team", "region", "name"} & set(profile):
            current = self.directory.get(user_id) or {}
            self.repository.update_owner_profile(
                user_id, team=current.get("team"), region=current.get("region"),
                name=current.get("name"))
