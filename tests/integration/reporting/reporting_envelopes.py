"""Envelopes shaped like the real producers' (CONTRACT §8), for publishing straight to
the bus: opportunity and task events carry the aggregate's snapshot with `version`,
customer events the customer snapshot; each `data` is checked against its schema."""
from __future__ import annotations

import itertools
import uuid
from datetime import datetime, timedelta, timezone

from crmkit.clock import isoformat
from event_data import envelope
from services.reporting.handlers import ReportingHandlers
from services.reporting.memstore import MemoryStore
from services.reporting.projections import Projector

STAGE_PROBABILITY = {"lead": 10, "needs_analysis": 25, "proposal": 50, "negotiation": 75,
                     "contract": 90, "won": 100, "lost": 0}


def consumed(repository, events) -> ReportingHandlers:
    """The events through the consumer's handler on `repository`, one at a time."""
    handlers = ReportingHandlers(repository)
    for event in events:
        handlers.on_event(event)
    return handlers


def in_memory(events) -> MemoryStore:
    """The in-memory reference store of the events."""
    store = MemoryStore()
    projector = Projector(store)
    for event in events:
        projector.handle(event)
    return store


def crash_once(monkeypatch, repository, step: str, after: bool) -> list:
    """The repository's `step` raises the first time it is called (a process killed),
    `after` it ran or before; returns the list of the arguments it was killed in."""
    real = getattr(repository, step)
    crashed = []

    def killed(*args, **kwargs):
        result = real(*args, **kwargs) if after else None
        if not crashed:
            crashed.append(args)
            raise RuntimeError("process killed")
        return result if after else real(*args, **kwargs)

    monkeypatch.setattr(repository, step, killed)
    return crashed


class Producer:
    """Makes envelopes for one run; each call is a millisecond later than the last."""

    def __init__(self, start: datetime | None = None):
        self.clock = start or datetime.now(timezone.utc) - timedelta(minutes=5)
        self.opportunities: dict[str, dict] = {}
        self._versions = itertools.count(1)

    def envelope(self, type_: str, aggregate_id: str, data: dict, *, actor=None,
                 region="east") -> dict:
        self.clock += timedelta(milliseconds=5)
        return envelope(type_, data, aggregate_id=aggregate_id, actor_id=actor,
                        producer=type_.split(".")[0], region=region, occurred_at=self.clock)

    # customers ---------------------------------------------------------------------
    def customer_created(self, cid: str, owner, *, name: str, region="east") -> dict:
        return self.envelope("customer.created", cid, {
            "customer_id": cid, "id": cid, "number": "CRM202611230001", "name": name,
            "industry": "制造业", "status": "potential", "level": None, "source": None,
            "tags": [], "owner_id": owner, "owner_team": None, "owner_region": None,
            "owner_name": None, "shared_with": [], "deal_amount": "0.00", "currency": "CNY",
            "last_deal_on": None, "last_followup_at": None, "region": region,
            "created_by": owner or "admin", "created_at": isoformat(self.clock),
            "version": 1, "in_pool": owner is None},
            actor=owner, region=region)

    def interaction(self, cid: str, author: str, method: str = "call") -> dict:
        return self.envelope("interaction.logged", cid, {
            "interaction_id": uuid.uuid4().hex, "customer_id": cid, "owner_id": author,
            "owner_team": None, "owner_region": None, "occurred_at": isoformat(self.clock),
            "method": method, "subject": "跟进", "contact_ids": [], "created_by": author},
            actor=author)

    # opportunities -------------------------------------------------------------------
    def _opportunity(self, type_: str, oid: str, extra: dict, **changes) -> dict:
        snap = self.opportunities[oid]
        snap.update(changes)
        snap["version"] += 1
        return self.envelope(type_, oid, {**snap, **extra}, actor=snap["owner_id"],
                             region=snap["region"])

    def opportunity_created(self, oid: str, owner: str, amount: str, *, customer: str,
                            close: str = "2026-12-20", region="east") -> dict:
        self.opportunities[oid] = {
            "opportunity_id": oid, "name": f"商机 {oid[:6]}", "customer_id": customer,
            "owner_id": owner, "owner_team": None, "owner_region": region,
            "region": region, "stage": "lead", "status": "open", "amount": amount,
            "currency": "CNY", "probability": 10, "expected_close_date": close,
            "created_at": isoformat(self.clock), "stage_changed_at": isoformat(self.clock),
            "closed_at": None, "won": None, "lost": None, "version": 0}
        return self._opportunity("opportunity.created", oid, {"created_by": owner})

    def stage_changed(self, oid: str, to: str) -> dict:
        before = self.opportunities[oid]["stage"]
        return self._opportunity("opportunity.stage_changed", oid, {
            "from_stage": before, "to_stage": to, "note": "推进", "forward": True},
            stage=to, probability=STAGE_PROBABILITY[to])

    def won(self, oid: str, amount: str, signed_on: str) -> dict:
        before = self.opportunities[oid]["stage"]
        return self._opportunity("opportunity.won", oid, {
            "from_stage": before, "won_amount": amount, "contract_number": "HT-001",
            "signed_on": signed_on}, stage="won", status="won", probability=100,
            closed_at=isoformat(self.clock))

    def lost(self, oid: str, reason: str) -> dict:
        before = self.opportunities[oid]["stage"]
        return self._opportunity("opportunity.lost", oid, {
            "from_stage": before, "reason": reason}, stage="lost", status="lost",
            probability=0, closed_at=isoformat(self.clock))

    # tasks ---------------------------------------------------------------------------
    def task(self, type_: str, tid: str, assignee, status: str, version: int, **extra):
        return self.envelope(type_, tid, {
            "task_id": tid, "type": "call", "title": "回访", "status": status,
            "priority": "medium", "assignee_id": assignee, "created_by": assignee,
            "customer_ids": [], "due_at": isoformat(self.clock + timedelta(days=1)),
            "completed_at": isoformat(self.clock) if status == "done" else None,
            "version": version, **extra}, actor=assignee)


def user_created(producer: Producer, user_id: str, name: str, role: str, team: str,
                 region: str) -> dict:
    return producer.envelope("user.created", user_id, {
        "id": user_id, "username": user_id, "name": name, "role": role, "team": team,
        "region": region, "timezone": "Asia/Shanghai", "email": None, "active": True},
        region=region)


def user_updated(producer: Producer, user_id: str, name: str, role: str, team: str,
                 region: str, *, was: tuple[str, str]) -> dict:
    """The user's profile after moving from team and region `was` to `team`, `region`."""
    return producer.envelope("user.updated", user_id, {
        "id": user_id, "username": user_id, "name": name, "role": role, "team": team,
        "region": region, "timezone": "Asia/Shanghai", "email": None, "active": True,
        "changes": {"team": [was[0], team], "region": [was[1], region]}}, region=region)
