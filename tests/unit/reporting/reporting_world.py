"""The little world the reporting unit tests live in: people, times, event builders."""
from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import events  # noqa: F401  (registers every event's schema)
from crmkit.events import DomainEvent, make_envelope, registry
from crmkit.identity import Identity
from people import person
from services.reporting.memstore import MemoryStore
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
    return person(user_id, role, team, region, name=name)


STAGE_PROBABILITY = {"lead": 10, "needs_analysis": 25, "proposal": 50, "negotiation": 75,
                     "contract": 90}


def _money(amount) -> str:
    return f"{Decimal(str(amount)):.2f}"


class Events:
    """Builds envelopes as the producers shape them, with the real envelope function
    (`crmkit.events.make_envelope`: `data` checked against its schema in `events`): every
    customer, opportunity and task event carries the entity's snapshot with its version,
    every user event the profile. Each call is one tick later than the last.

    `ev(type, aggregate_id, changes)`: `changes` names snapshot fields that change and
    the event's own fields; the rest of the snapshot is what earlier events left."""

    def __init__(self):
        self._ids = itertools.count(1)
        self.clock = T0
        self.snapshots: dict[tuple[str, str], dict] = {}

    def at(self, moment: datetime) -> "Events":
        self.clock = moment
        return self

    def _tick(self, at: datetime | None) -> datetime:
        if at is None:
            self.clock += timedelta(minutes=1)
            return self.clock
        self.clock = max(self.clock, at)
        return at

    def __call__(self, type_: str, aggregate_id: str, changes: dict | None = None, *,
                 actor: str | None = None, region: str | None = "east",
                 at: datetime | None = None) -> dict:
        at = self._tick(at)
        changes = dict(changes or {})
        family = "task" if type_ == "reminder.due" else type_.split(".")[0]
        build = getattr(self, f"_{family}", None)
        data = build(type_, aggregate_id, changes, actor, region, at) if build else changes
        if family in ("contact", "interaction"):
            data = {**self._customer_ref(data.get("customer_id") or aggregate_id), **data}
        envelope = make_envelope(DomainEvent(type_, aggregate_id, data, region),
                                 producer=registry.latest(type_).producer, actor_id=actor)
        return {**envelope, "id": f"ev{next(self._ids):06d}", "occurred_at": at.isoformat(),
                "correlation_id": "c"}

    # the snapshots, as each producer keeps its aggregate ------------------------------
    def _snapshot(self, family: str, aggregate_id: str, fresh: dict, created: bool) -> dict:
        key = (family, aggregate_id)
        if created or key not in self.snapshots:
            self.snapshots[key] = fresh
        return self.snapshots[key]

    @staticmethod
    def _owner(user_id: str | None, region: str | None, prefix: str = "owner") -> dict:
        person = PEOPLE.get(user_id) if user_id else None
        return {f"{prefix}_team": person[2] if person else None,
                f"{prefix}_region": (person[3] if person else region) if user_id else None}

    def _customer(self, type_, cid, changes, actor, region, at) -> dict:
        snap = self._snapshot("customer", cid, {
            "customer_id": cid, "id": cid, "number": "CRM202611020001", "name": f"客户{cid}",
            "industry": "制造业", "status": "potential", "level": None, "source": None,
            "tags": [], "region": region, "owner_id": None, "owner_team": None,
            "owner_region": None, "owner_name": None, "shared_with": [],
            "deal_amount": "0.00", "currency": "CNY", "last_deal_on": None,
            "last_followup_at": None, "created_by": actor or "admin",
            "created_at": at.isoformat(), "version": 0}, type_ == "customer.created")
        previous = snap["owner_id"]
        extras = {k: changes.pop(k) for k in list(changes) if k not in snap}
        snap.update(changes)
        if type_ == "customer.claimed":
            snap["owner_id"] = changes.get("owner_id") or actor
        elif type_ in ("customer.returned", "customer.recovered"):
            snap["owner_id"] = None
            extras = {"reason": None, **extras}
        owner = snap["owner_id"]
        snap.update(self._owner(owner, snap["region"]))
        snap["owner_name"] = PEOPLE[owner][0] if owner in PEOPLE else None
        snap["version"] += 1
        if type_ == "customer.created":
            extras["in_pool"] = owner is None
        elif type_ == "customer.returned":
            extras.setdefault("auto", False)
        elif type_ in ("customer.shared", "customer.unshared"):
            extras.setdefault("user_ids", [])
        if type_ in ("customer.claimed", "customer.assigned", "customer.returned",
                     "customer.recovered"):
            extras["previous_owner_id"] = previous
        return {**snap, **extras}

    def _customer_ref(self, cid: str) -> dict:
        snap = self.snapshots.get(("customer", cid)) or {}
        return {"customer_id": cid, "owner_id": snap.get("owner_id"),
                "owner_team": snap.get("owner_team"), "owner_region": snap.get("owner_region")}

    def _contact(self, type_, cid, changes, actor, region, at) -> dict:
        return {"contact_id": f"k-{cid}", "name": "联系人", "is_primary": False, **changes}

    def _opportunity(self, type_, oid, changes, actor, region, at) -> dict:
        snap = self._snapshot("opportunity", oid, {
            "opportunity_id": oid, "name": f"商机{oid}", "customer_id": "c1", "owner_id": None,
            "owner_team": None, "owner_region": None, "region": region, "stage": "lead",
            "status": "open", "amount": "0.00", "currency": "CNY", "probability": 10,
            "expected_close_date": "2026-12-15", "created_at": at.isoformat(),
            "stage_changed_at": at.isoformat(), "closed_at": None, "won": None, "lost": None,
            "version": 0}, type_ == "opportunity.created")
        extras = {k: changes.pop(k) for k in list(changes) if k not in snap}
        before = dict(snap)
        if "amount" in changes:
            changes["amount"] = _money(changes["amount"])
        for name, (_, new) in (extras.get("changes") or {}).items():
            snap[name] = new
        snap.update(changes)
        if "owner_id" in changes:
            snap.update(self._owner(snap["owner_id"], snap["region"]))
        if type_ == "opportunity.created":
            extras["created_by"] = snap["owner_id"] or "admin"
        elif type_ == "opportunity.updated" and "changes" not in extras:
            extras["changes"] = {k: [before[k], v] for k, v in changes.items()
                                 if before.get(k) != v}
        elif type_ == "opportunity.assigned":
            extras.update(from_owner_id=before["owner_id"], to_owner_id=snap["owner_id"],
                          cause="customer_assigned")
        snap["version"] += 1
        return {**snap, **extras}

    def _task(self, type_, tid, changes, actor, region, at) -> dict:
        snap = self._snapshot("task", tid, {
            "task_id": tid, "type": "call", "title": "任务", "status": "todo",
            "priority": "medium", "assignee_id": None, "assignee_team": None,
            "assignee_region": None, "created_by": actor or "admin", "region": region,
            "customer_ids": [], "opportunity_id": None,
            "due_at": (at + timedelta(days=1)).isoformat(), "start_at": None, "end_at": None,
            "completed_at": None, "version": 0}, type_ == "task.created")
        extras = {k: changes.pop(k) for k in list(changes) if k not in snap}
        before = dict(snap)
        snap.update(changes)
        snap.update(self._owner(snap["assignee_id"], snap["region"], "assignee"))
        if type_ == "task.completed":
            snap["status"] = "done"
            extras["counts_as_followup"] = bool(snap["customer_ids"])
        if snap["status"] == "done" and before["status"] != "done":
            snap["completed_at"] = at.isoformat()
        if type_ == "task.assigned":
            extras["previous_assignee_id"] = before["assignee_id"]
        elif type_ == "task.status_changed":
            extras = {"from": before["status"], "to": snap["status"], **extras}
        elif type_ == "reminder.due":
            extras = {"reminder_id": f"r-{tid}", "kind": "default",
                      "user_id": snap["assignee_id"] or snap["created_by"],
                      "remind_at": at.isoformat(), "fired_at": at.isoformat(), **extras}
        snap["version"] += 1
        return {**snap, **extras}

    def _user(self, type_, user_id, changes, actor, region, at) -> dict:
        name, role, team, home = PEOPLE.get(user_id, (user_id, "rep", "hq", "hq"))
        snap = self._snapshot("user", user_id, {
            "id": user_id, "username": user_id, "name": name, "role": role, "team": team,
            "region": home, "timezone": "Asia/Shanghai", "email": None, "active": True,
            "version": -1}, type_ == "user.created")
        before = dict(snap)
        snap.update(changes)
        snap["version"] += 1
        if type_ == "user.updated":
            return {**snap, "changes": {k: [before[k], v] for k, v in changes.items()}}
        return dict(snap)

    # convenient builders ---------------------------------------------------------------
    def user(self, user_id: str) -> dict:
        return self("user.created", user_id, region=PEOPLE[user_id][3])

    def customer(self, cid: str, owner: str | None, *, name: str | None = None,
                 region: str = "east", at: datetime | None = None) -> dict:
        moment = at or (self.clock + timedelta(minutes=1))
        return self("customer.created", cid, {
            "name": name or f"客户{cid}", "owner_id": owner, "region": region,
            "created_by": owner or "admin", "created_at": moment.isoformat()},
            actor=owner, region=region, at=moment)

    def opportunity(self, oid: str, owner: str | None, amount: str, *, customer: str = "c1",
                    stage: str = "lead", close: str = "2026-12-15", region: str = "east",
                    at: datetime | None = None) -> dict:
        moment = at or (self.clock + timedelta(minutes=1))
        return self("opportunity.created", oid, {
            "customer_id": customer, "amount": amount, "expected_close_date": close,
            "stage": stage, "probability": STAGE_PROBABILITY.get(stage, 10),
            "owner_id": owner, "region": region, "created_at": moment.isoformat(),
            "stage_changed_at": moment.isoformat()}, actor=owner, region=region, at=moment)

    def stage(self, oid: str, frm: str, to: str, **kw) -> dict:
        moment = self._peek(kw)
        return self("opportunity.stage_changed", oid, {
            "stage": to, "probability": STAGE_PROBABILITY[to],
            "stage_changed_at": moment.isoformat(), "from_stage": frm, "to_stage": to,
            "note": "推进", "forward": True}, **kw)

    def won(self, oid: str, amount: str, signed_on: str = "2026-11-20", **kw) -> dict:
        moment = self._peek(kw)
        amount = _money(amount)
        won = {"amount": amount, "contract_number": "HT-1", "signed_on": signed_on}
        return self("opportunity.won", oid, {
            "status": "won", "stage": "won", "probability": 100, "won": won,
            "closed_at": moment.isoformat(), "stage_changed_at": moment.isoformat(),
            "from_stage": self._stage_of(oid), "won_amount": amount,
            "contract_number": "HT-1", "signed_on": signed_on}, **kw)

    def lost(self, oid: str, reason: str, **kw) -> dict:
        moment = self._peek(kw)
        return self("opportunity.lost", oid, {
            "status": "lost", "stage": "lost", "probability": 0, "lost": {"reason": reason},
            "closed_at": moment.isoformat(), "stage_changed_at": moment.isoformat(),
            "from_stage": self._stage_of(oid), "reason": reason}, **kw)

    def interaction(self, iid: str, customer: str, author: str, method: str = "call",
                    **kw) -> dict:
        at = kw.pop("at", None) or (self.clock + timedelta(minutes=1))
        return self("interaction.logged", customer, {
            "interaction_id": iid, "customer_id": customer, "occurred_at": at.isoformat(),
            "method": method, "subject": "跟进", "attitude": None, "contact_ids": [],
            "opportunity_id": None, "next_action": None, "next_action_due": None,
            "created_by": author}, actor=author, at=at, **kw)

    def _peek(self, kw: dict) -> datetime:
        """The moment the next event will carry (set `at` so that it is that one)."""
        kw["at"] = kw.get("at") or self.clock + timedelta(minutes=1)
        return kw["at"]

    def _stage_of(self, oid: str) -> str:
        return (self.snapshots.get(("opportunity", oid)) or {}).get("stage", "lead")


def feed(projector: Projector, events) -> None:
    for event in events:
        projector.handle(event)


def project(events) -> MemoryStore:
    """A fresh store with `events` projected into it, in the order given."""
    store = MemoryStore()
    feed(Projector(store, tz=SHANGHAI), events)
    return store
