"""The little world the reporting unit tests live in: people, times, event builders."""
from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from crmkit.identity import Identity
from services.reporting.projections import Projector

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai, Mon 2 Nov
TODAY = date(2026, 11, 23)

PEOPLE = {
    # user id: (name, role, team, region)
    "rep1": ("张三", "rep", "east/shanghai/team-1", "east"),
    "rep2": ("李四", "rep", "east/shanghai/team-1", "east"),
    "rep3": ("王五", "rep", "east/shanghai/team-2", "east"),
    "rep4": ("赵六", "rep", "north/beijing/team-1", "north"),
    "sup1": ("主管甲", "supervisor", "east/shanghai/team-1", "east"),
    "mgr1": ("经理乙", "manager", "east", "east"),
    "mgr2": ("经理丙", "manager", "north", "north"),
    "admin": ("管理员", "admin", "hq", "hq"),
}


def identity(user_id: str) -> Identity:
    name, role, team, region = PEOPLE[user_id]
    return Identity(user_id=user_id, username=user_id, name=name, role=role, team=team,
                    region=region)


class Events:
    """Builds CONTRACT §8 envelopes with increasing times (each call is one tick later)."""

    def __init__(self):
        self._ids = itertools.count(1)
        self.clock = T0

    def at(self, moment: datetime) -> "Events":
        self.clock = moment
        return self

    def __call__(self, type_: str, aggregate_id: str, data: dict | None = None, *,
                 actor: str | None = None, region: str | None = "east",
                 at: datetime | None = None) -> dict:
        if at is None:
            self.clock += timedelta(minutes=1)
            at = self.clock
        else:
            self.clock = max(self.clock, at)
        return {"id": f"ev{next(self._ids):06d}", "type": type_, "version": 1,
                "occurred_at": at.isoformat(), "producer": type_.split(".")[0],
                "aggregate_id": aggregate_id, "actor_id": actor, "correlation_id": "c",
                "region": region, "data": dict(data or {})}

    # convenient builders ---------------------------------------------------------------
    def user(self, user_id: str) -> dict:
        name, role, team, region = PEOPLE[user_id]
        return self("user.created", user_id, {"id": user_id, "username": user_id,
                                               "name": name, "role": role, "team": team,
                                               "region": region}, region=region)

    def customer(self, cid: str, owner: str | None, *, name: str | None = None,
                 region: str = "east", at: datetime | None = None) -> dict:
        moment = at or (self.clock + timedelta(minutes=1))
        return self("customer.created", cid, {
            "id": cid, "number": "CRM202611020001", "name": name or f"客户{cid}",
            "industry": "制造业", "status": "potential", "owner_id": owner,
            "region": region, "created_by": owner or "admin",
            "created_at": moment.isoformat()}, actor=owner, region=region, at=moment)

    def opportunity(self, oid: str, owner: str | None, amount: str, *, customer: str = "c1",
                    stage: str = "lead", close: str = "2026-12-15", region: str = "east",
                    at: datetime | None = None) -> dict:
        moment = at or (self.clock + timedelta(minutes=1))
        return self("opportunity.created", oid, {
            "id": oid, "name": f"商机{oid}", "customer_id": customer, "amount": amount,
            "currency": "CNY", "expected_close_date": close, "stage": stage,
            "probability": {"lead": 10, "needs_analysis": 25, "proposal": 50,
                            "negotiation": 75, "contract": 90}.get(stage, 10),
            "status": "open", "owner_id": owner, "region": region,
            "created_at": moment.isoformat()}, actor=owner, region=region, at=moment)

    def stage(self, oid: str, frm: str, to: str, **kw) -> dict:
        probability = {"lead": 10, "needs_analysis": 25, "proposal": 50, "negotiation": 75,
                       "contract": 90}[to]
        return self("opportunity.stage_changed", oid,
                    {"from": frm, "to": to, "note": "推进", "probability": probability}, **kw)

    def won(self, oid: str, amount: str, signed_on: str = "2026-11-20", **kw) -> dict:
        return self("opportunity.won", oid, {"amount": amount, "contract_number": "HT-1",
                                             "signed_on": signed_on}, **kw)

    def lost(self, oid: str, reason: str, **kw) -> dict:
        return self("opportunity.lost", oid, {"reason": reason}, **kw)

    def interaction(self, iid: str, customer: str, author: str, method: str = "call",
                    **kw) -> dict:
        at = kw.pop("at", None) or (self.clock + timedelta(minutes=1))
        return self("interaction.logged", customer, {
            "id": iid, "customer_id": customer, "occurred_at": at.isoformat(),
            "method": method, "subject": "跟进", "created_by": author}, actor=author, at=at,
            **kw)


def feed(projector: Projector, events) -> None:
    for event in events:
        projector.handle(event)
