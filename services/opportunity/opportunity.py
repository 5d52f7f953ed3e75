"""The Opportunity aggregate: an opportunity through the stage pipeline to won or lost.

Plain Python: no database, web or bus imports. Rules raise crmkit.errors; every command
that changes something raises `version` once and appends a crmkit.events.DomainEvent to
`events`, which the handler saves with the state in one MongoDB write
(`crmkit.commands.CommandRunner`).

Event types recorded here (data schemas in `events.opportunity`):
  opportunity.created, opportunity.updated, opportunity.stage_changed,
  opportunity.won, opportunity.lost, opportunity.assigned,
  opportunity.followup_planned, opportunity.reminder_set (a reminder the user set by
  hand; the tasks service turns it into an inbox notification at `remind_at`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Mapping

from crmkit.clock import isoformat, utcnow
from crmkit.errors import Conflict, Invalid
from crmkit.events import DomainEvent
from crmkit.identity import Identity
from crmkit.money import format_money
from crmkit.visibility import Owner

from events.opportunity import FOLLOWUP_METHODS, LOST, OPEN, STATUSES, WON  # noqa: F401
from services.opportunity import fields as parse
from services.opportunity.access import require_customer
from services.opportunity.customers import CustomerRef
from services.opportunity.pipeline import Pipeline

FOLLOWUP_REMINDER_LEAD = timedelta(days=1)
MAX_FOLLOWUP_PLANS = 500
MAX_REMINDERS = 500

# Free-text fields (checked for personal numbers by `parse.text`).
FREE_TEXT = ("product", "strengths", "weaknesses", "key_factors", "risks", "next_action",
             "description")
EDITABLE = ("name", "contact_id", "product", "amount", "currency", "expected_close_date",
            "probability", "competitors", "strengths", "weaknesses", "key_factors",
            "risks", "next_action", "next_action_due", "description")


def require_contact_of(contact_id: str | None, contact_ids: Iterable[str] | None) -> None:
    """An opportunity's contact is one of its customer's contacts (seed 002: 主要联系人
    关联到联系人信息表). `contact_ids` None: the service's copy of the customer does not
    know its contacts yet (made from events before they carried them): accepted."""
    if contact_id is None or contact_ids is None:
        return
    if contact_id not in contact_ids:
        raise Invalid("contact_id", "Not a contact of this opportunity's customer. "
                                    "/ 该联系人不属于此商机的客户。")


def new_id() -> str:
    return uuid.uuid4().hex


@dataclass
class Opportunity:
    id: str
    name: str
    customer_id: str
    amount: Decimal
    expected_close_date: date
    stage: str
    probability: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    stage_changed_at: datetime
    currency: str = "CNY"
    status: str = OPEN
    probability_manual: bool = False  # set by hand: no longer follows the stage
    contact_id: str | None = None
    product: str | None = None
    competitors: list[str] = field(default_factory=list)
    strengths: str | None = None
    weaknesses: str | None = None
    key_factors: str | None = None
    risks: str | None = None
    next_action: str | None = None
    next_action_due: date | None = None
    description: str | None = None
    owner_id: str | None = None
    owner_team: str | None = None
    owner_region: str | None = None
    region: str | None = None
    shared_with: list[str] = field(default_factory=list)
    shared_teams: list[str] = field(default_factory=list)   # the customer's (§11)
    customer_name: str | None = None
    won: dict | None = None   # {amount: Decimal, contract_number, signed_on: date}
    lost: dict | None = None  # {reason}
    closed_at: datetime | None = None
    history: list[dict] = field(default_factory=list)
    followup_plans: list[dict] = field(default_factory=list)
    reminders: list[dict] = field(default_factory=list)
    version: int = 0
    events: list[DomainEvent] = field(default_factory=list, repr=False, compare=False)

    # ---- creation

    @classmethod
    def open(cls, *, viewer: Identity, customer: CustomerRef | None, pipeline: Pipeline,
             name, amount, expected_close_date, now: datetime | None = None,
             opportunity_id: str | None = None, **optional) -> "Opportunity":
        """A new opportunity at the pipeline's first stage, owned like its customer."""
        now = now or utcnow()
        customer = require_customer(viewer, customer)
        unknown = set(optional) - set(EDITABLE)
        if unknown:
            raise Invalid({f: ["Unknown field."] for f in sorted(unknown)},
                          code="unknown_field")
        first = pipeline.first
        opp = cls(
            id=opportunity_id or new_id(),
            name=parse.text("name", name, required=True, limit=parse.NAME_MAX),
            customer_id=customer.id,
            amount=parse.money("amount", amount),
            expected_close_date=parse.required_day("expected_close_date",
                                                   expected_close_date),
            stage=first.key,
            probability=first.probability,
            created_by=viewer.user_id,
            created_at=now, updated_at=now, stage_changed_at=now,
            region=customer.region,
            shared_with=list(customer.shared_with),
            shared_teams=list(customer.shared_teams),
            customer_name=customer.name,
        )
        opp._set_owner(customer.owner)
        for key, value in optional.items():
            opp._assign_field(key, value, pipeline)
        require_contact_of(opp.contact_id, customer.contact_ids)
        opp.version = 1
        opp._record("opportunity.created", {"created_by": viewer.user_id})
        return opp

    # ---- plain edits

    def update(self, changes: Mapping[str, Any], *, actor_id: str, pipeline: Pipeline,
               now: datetime | None = None,
               customer_contacts: tuple[str, ...] | None = None) -> dict:
        """Edit the descriptive fields; returns {field: [old, new]} of what changed.
        `customer_contacts`: the customer's contact ids as the copy knows them (None:
        not known yet), which a new contact_id must be one of."""
        self._refuse_if_closed()
        now = now or utcnow()
        if "stage" in changes:
            raise Invalid({"stage": ["Change the stage with POST /stage and a note. "
                                     "阶段变更请填写跟进说明。"]}, code="use_stage_change")
        unknown = set(changes) - set(EDITABLE)
        if unknown:
            raise Invalid({f: ["Unknown or read-only field."] for f in sorted(unknown)},
                          code="unknown_field")
        before = {k: self._public(k) for k in changes}
        if "contact_id" in changes:   # refused before anything is changed
            require_contact_of(parse.text("contact_id", changes["contact_id"], limit=64),
                               customer_contacts)
        for key, value in changes.items():
            self._assign_field(key, value, pipeline)
        diff = {k: [before[k], self._public(k)] for k in changes
                if before[k] != self._public(k)}
        if diff:
            self._touch(now)
            self._record("opportunity.updated", {"changes": diff, "actor_id": actor_id})
        return diff

    def _assign_field(self, key: str, value, pipeline: Pipeline) -> None:
        if key == "name":
            self.name = parse.text("name", value, required=True, limit=parse.NAME_MAX)
        elif key == "amount":
            self.amount = parse.money("amount", value)
        elif key == "currency":
            self.currency = parse.currency(value)
        elif key == "expected_close_date":
            self.expected_close_date = parse.required_day("expected_close_date", value)
        elif key == "next_action_due":
            self.next_action_due = parse.day("next_action_due", value)
        elif key == "probability":
            if value is None:  # back to following the stage
                self.probability_manual = False
                self.probability = pipeline.probability_of(self.stage) or 0
            else:
                self.probability = parse.probability(value)
                self.probability_manual = True
        elif key == "competitors":
            self.competitors = parse.competitors(value)
        elif key == "contact_id":
            self.contact_id = parse.text("contact_id", value, limit=64)
        elif key in FREE_TEXT:
            limit = parse.NAME_MAX if key == "product" else parse.TEXT_MAX
            setattr(self, key, parse.text(key, value, limit=limit))
        else:  # pragma: no cover - guarded by EDITABLE
            raise Invalid(key, "Unknown field.")

    # ---- stages

    def change_stage(self, stage: str, note, *, actor_id: str, pipeline: Pipeline,
                     now: datetime | None = None) -> None:
        self._refuse_if_closed()
        now = now or utcnow()
        target = pipeline.require_stage(stage)
        note = parse.text("note", note, required=True, limit=parse.NOTE_MAX)
        if target.key == self.stage:
            raise Invalid({"stage": [f"Already in stage '{stage}'. 已处于该阶段。"]},
                          code="same_stage")
        previous = self.stage
        self.stage = target.key
        self.stage_changed_at = now
        if not self.probability_manual:
            self.probability = target.probability
        self._touch(now)
        self.history.append(self._entry(now, actor_id, "stage_changed", previous,
                                        target.key, note))
        self._record("opportunity.stage_changed", {
            "from_stage": previous, "to_stage": target.key, "note": note,
            "actor_id": actor_id, "forward": pipeline.is_forward(previous, target.key)})

    def rebase_probability(self, pipeline: Pipeline, *, now: datetime | None = None) -> bool:
        """After a pipeline edit: an open opportunity whose probability follows its stage
        takes the stage's new default. Returns whether anything changed."""
        if self.status != OPEN or self.probability_manual:
            return False
        new = pipeline.probability_of(self.stage)
        if new is None or new == self.probability:
            return False
        old, self.probability = self.probability, new
        self._touch(now or utcnow())
        self._record("opportunity.updated", {"changes": {"probability": [old, new]},
                                             "actor_id": None})
        return True

    # ---- closing

    def win(self, *, amount, contract_number, signed_on, actor_id: str,
            now: datetime | None = None) -> None:
        self._refuse_if_closed()
        now = now or utcnow()
        won_amount = parse.money("amount", amount)
        number = parse.contract_number(contract_number)
        signed = parse.required_day("signed_on", signed_on)
        previous = self.stage
        self.status, self.stage, self.probability = WON, WON, 100
        self.won = {"amount": won_amount, "contract_number": number, "signed_on": signed}
        self._close(now, actor_id, previous, WON, f"{number}")
        self._record("opportunity.won", {
            "from_stage": previous, "won_amount": format_money(won_amount),
            "contract_number": number, "signed_on": signed.isoformat(),
            "actor_id": actor_id})  # `won` {amount, ...} is in the snapshot too

    def lose(self, *, reason, actor_id: str, now: datetime | None = None) -> None:
        self._refuse_if_closed()
        now = now or utcnow()
        reason = parse.text("reason", reason, required=True, limit=parse.NOTE_MAX)
        previous = self.stage
        self.status, self.stage, self.probability = LOST, LOST, 0
        self.lost = {"reason": reason}
        self._close(now, actor_id, previous, LOST, reason)
        self._record("opportunity.lost", {"from_stage": previous, "reason": reason,
                                          "actor_id": actor_id})

    def _close(self, now, actor_id, previous, outcome, note) -> None:
        self.closed_at = now
        self.stage_changed_at = now
        self._touch(now)
        self.history.append(self._entry(now, actor_id, outcome, previous, outcome, note))

    # ---- plans and reminders (the tasks service turns these into calendar entries
    #      and notifications; here they are recorded and announced)

    def plan_followup(self, *, start_at, end_at, method, content, actor_id: str,
                      now: datetime | None = None) -> dict:
        self._refuse_if_closed()
        now = now or utcnow()
        start = parse.moment("start_at", start_at)
        end = parse.moment("end_at", end_at)
        if end <= start:
            raise Invalid("end_at", "Must be after start_at. 结束时间须晚于开始时间。")
        if end <= now:
            raise Invalid("end_at", "The plan is already over. 跟进计划时间已过。")
        if method not in FOLLOWUP_METHODS:
            raise Invalid("method", f"One of {', '.join(FOLLOWUP_METHODS)}.")
        content = parse.text("content", content, required=True, limit=parse.TEXT_MAX)
        if len(self.followup_plans) >= MAX_FOLLOWUP_PLANS:
            raise Conflict("Too many follow-up plans on one opportunity.",
                           code="too_many_plans")
        # One day before the start, as the manual says; a plan starting sooner than
        # that gets no separate reminder (it is already at hand).
        remind_at = start - FOLLOWUP_REMINDER_LEAD
        reminders = [{"remind_at": remind_at}] if remind_at > now else []
        plan = {"id": new_id(), "opportunity_id": self.id, "start_at": start, "end_at": end,
                "method": method, "content": content, "assignee_id": self.owner_id or actor_id,
                "reminders": reminders, "created_by": actor_id, "created_at": now}
        self.followup_plans.append(plan)
        self._touch(now)
        self._record("opportunity.followup_planned", {
            "plan_id": plan["id"], "start_at": isoformat(start), "end_at": isoformat(end),
            "method": method, "content": content, "assignee_id": plan["assignee_id"],
            "title": f"{_METHOD_LABEL[method]}: {self.name}",
            "reminders": [{"remind_at": isoformat(r["remind_at"])} for r in reminders],
            "actor_id": actor_id})
        return plan

    def set_reminder(self, *, remind_at, actor_id: str, note=None,
                     now: datetime | None = None) -> dict:
        self._refuse_if_closed()
        now = now or utcnow()
        moment = parse.moment("remind_at", remind_at)
        if moment <= now:
            raise Invalid("remind_at", "Must be in the future. 提醒时间须晚于当前时间。")
        note = parse.text("note", note, limit=parse.NOTE_MAX)
        if len(self.reminders) >= MAX_REMINDERS:
            raise Conflict("Too many reminders on one opportunity.",
                           code="too_many_reminders")
        reminder = {"id": new_id(), "opportunity_id": self.id, "remind_at": moment,
                    "note": note, "user_id": self.owner_id or actor_id, "created_by": actor_id,
                    "created_at": now}
        self.reminders.append(reminder)
        self._touch(now)
        self._record("opportunity.reminder_set", {
            "reminder_id": reminder["id"], "remind_at": isoformat(moment), "note": note,
            "user_id": reminder["user_id"], "title": f"商机提醒 Reminder: {self.name}",
            "actor_id": actor_id})
        return reminder

    # ---- ownership: open opportunities follow their customer's owner

    def follow_customer_owner(self, owner: Owner | None, *, actor_id: str | None,
                              cause: str, now: datetime | None = None) -> bool:
        """Move to the customer's new owner (None: back in the pool, unowned).

        Closed opportunities stay with whoever closed them. Returns whether it moved.
        """
        if self.status != OPEN:
            return False
        new_id_ = owner.user_id if owner else None
        if new_id_ == self.owner_id and (owner is None or (
                owner.team == self.owner_team and owner.region == self.owner_region)):
            return False
        now = now or utcnow()
        previous = self.owner_id
        self._set_owner(owner)
        self._touch(now)
        if previous == new_id_:
            return True  # only the owner's team/region changed: no move to announce
        entry = self._entry(now, actor_id, "assigned", None, None, cause)
        entry.update({"from_owner_id": previous, "to_owner_id": new_id_})
        self.history.append(entry)
        self._record("opportunity.assigned", {
            "from_owner_id": previous, "to_owner_id": new_id_, "cause": cause,
            "actor_id": actor_id})
        return True

    def set_shared_with(self, user_ids: Iterable[str]) -> bool:
        """Sharees of the customer may read its opportunities (no event: visibility)."""
        new = sorted(set(user_ids))
        if new == sorted(self.shared_with):
            return False
        self.shared_with = new
        return True

    # ---- helpers

    @property
    def owner(self) -> Owner:
        return Owner(self.owner_id, self.owner_team, self.owner_region)

    @property
    def probability_source(self) -> str:
        """'manual' once set by hand, else 'stage' (follows the stage's default)."""
        return "manual" if self.probability_manual else "stage"

    @property
    def is_closed(self) -> bool:
        return self.status != OPEN

    def _set_owner(self, owner: Owner | None) -> None:
        self.owner_id = owner.user_id if owner else None
        self.owner_team = owner.team if owner else None
        self.owner_region = owner.region if owner else None

    def _refuse_if_closed(self) -> None:
        if self.status != OPEN:
            raise Conflict(f"The opportunity is {self.status} and can no longer change. "
                           "商机已关闭,不能再修改。", code="opportunity_closed")

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    @staticmethod
    def _entry(now, actor_id, action, from_, to, note) -> dict:
        # One history line; `from`/`to` are stages (won/lost for a close). Owner moves
        # add from_owner_id/to_owner_id and leave from/to as None.
        return {"at": now, "actor_id": actor_id, "action": action, "from": from_, "to": to,
                "note": note}

    def _public(self, key: str):
        value = getattr(self, key)
        if isinstance(value, Decimal):
            return format_money(value)
        if isinstance(value, date):
            return value.isoformat()
        if isinstance(value, list):
            return list(value)
        return value

    def snapshot(self) -> dict:
        """The opportunity's state as every event carries it, so that a subscriber
        (reporting) can keep its copy right even when events arrive out of order:
        `version` says which state is newer."""
        return {
            "opportunity_id": self.id, "name": self.name, "customer_id": self.customer_id,
            "owner_id": self.owner_id, "owner_team": self.owner_team,
            "owner_region": self.owner_region, "region": self.region,
            "stage": self.stage, "status": self.status,
            "amount": format_money(self.amount), "currency": self.currency,
            "probability": self.probability,
            "expected_close_date": self.expected_close_date.isoformat(),
            "created_at": isoformat(self.created_at),
            "stage_changed_at": isoformat(self.stage_changed_at),
            "closed_at": isoformat(self.closed_at), "version": self.version,
            "won": None if self.won is None else {
                "amount": format_money(self.won["amount"]),
                "contract_number": self.won["contract_number"],
                "signed_on": self.won["signed_on"].isoformat()},
            "lost": None if self.lost is None else {"reason": self.lost["reason"]},
        }

    def _record(self, event_type: str, data: dict) -> None:
        self.events.append(DomainEvent(type=event_type, aggregate_id=self.id,
                                       data={**self.snapshot(), **data}, region=self.region))


_METHOD_LABEL = {"call": "电话跟进 Call", "visit": "上门拜访 Visit",
                 "online_meeting": "线上会议 Online meeting"}


def sum_amounts(amounts: Iterable[Decimal]) -> Decimal:
    """Exact sum of money amounts (Decimal throughout, never float)."""
    return sum((Decimal(a) for a in amounts), Decimal("0.00"))
