"""The pool rules, and auto-reclaim: the owner's outlook, a run, the daily schedule."""
from __future__ import annotations

import logging
from datetime import date, datetime

from crmkit.clock import as_utc, local_date
from crmkit.errors import DomainError
from crmkit.identity import Identity

from services.customer import reclaim
from services.customer.domain import Customer
from services.customer.handlers.base import HandlerBase

log = logging.getLogger(__name__)


class ReclaimHandlers(HandlerBase):
    def rules(self) -> reclaim.PoolRules:
        rules, _ = self.repository.get_rules()
        return rules

    def put_rules(self, data: dict, actor: Identity) -> reclaim.PoolRules:
        rules = reclaim.PoolRules.from_dict(data)
        self.repository.put_rules(rules, actor.user_id)
        return rules

    def reclaim_outlook(self, actor: Identity, within_days: int) -> dict:
        """The caller's own customers whose auto-reclaim deadline falls within
        `within_days` days of today (local date), earliest first."""
        today = self.today()
        rules, _ = self.repository.get_rules()
        items = []
        if rules.auto_reclaim:
            for customer in self.repository.customers_owned_by(actor.user_id):
                if customer.status in rules.exempt_statuses:
                    continue
                due = reclaim.deadlines(rules, customer, self.tz)
                if not due:
                    continue
                due_on, reason = due[0]
                days_left = (due_on - today).days
                if days_left <= within_days:
                    items.append({"id": customer.id, "number": customer.number,
                                  "name": customer.name, "level": customer.level,
                                  "status": customer.status, "due_on": due_on,
                                  "days_left": max(days_left, 0), "reason": reason})
        items.sort(key=lambda item: (item["due_on"], item["name"]))
        return {"as_of": today, "auto_reclaim": rules.auto_reclaim,
                "within_days": within_days, "items": items}

    def run_reclaim(self, as_of: date | None = None) -> dict:
        """Reclaim and warn as the rules say on the local date `as_of` (default today).
        Safe to run in several replicas at once: every change is a conditional update
        decided again on fresh state, so nothing is returned or warned twice."""
        as_of = as_of or self.today()
        rules, _ = self.repository.get_rules()
        report = {"as_of": as_of, "reclaimed": [], "warned": []}
        if not rules.auto_reclaim:
            return report
        for candidate in self.repository.owned_customers():
            if reclaim.decide(rules, candidate, as_of, self.tz).is_none:
                continue
            outcome: dict = {}

            def act(customer: Customer):
                outcome.clear()  # a lost race runs this again on fresh state
                decision = reclaim.decide(rules, customer, as_of, self.tz)
                if customer.apply_reclaim(decision, now=self.now()):
                    outcome["action"] = decision.action

            try:
                self.change(candidate.id, None, act)
            except DomainError:
                log.exception("auto-reclaim of %s failed", candidate.id)
                continue
            if outcome.get("action") == "reclaim":
                report["reclaimed"].append(candidate.id)
            elif outcome.get("action") == "warn":
                report["warned"].append(candidate.id)
        return report

    def scheduled_reclaim(self, now: datetime) -> None:
        """The daily run: once per local day (marked only after it completed)."""
        day = local_date(as_utc(now), self.tz)
        key = f"reclaim:{day.isoformat()}"
        if self.repository.runs.done(key):
            return
        report = self.run_reclaim(day)
        self.repository.runs.mark(key, reclaimed=len(report["reclaimed"]),
                                  warned=len(report["warned"]))
