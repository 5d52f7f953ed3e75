"""Opportunity domain: the stage pipeline, the Opportunity aggregate and who may touch it.

Plain Python: no database, web or bus imports. Rules raise crmkit.errors; every change
appends a crmkit.events.DomainEvent to `Opportunity.events`, which the handler writes
to the outbox in the same MongoDB write as the state change.

Event types recorded here (data schemas live in schemas.py):
  opportunity.created, opportunity.updated, opportunity.stage_changed,
  opportunity.won, opportunity.lost, opportunity.assigned,
  opportunity.followup_planned, opportunity.reminder_set (a reminder the user set by
  hand; the tasks service turns it into an inbox notification at `remind_at`).
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable, Mapping

from crmkit.clock import as_utc, isoformat, utcnow
from crmkit.errors import Conflict, Forbidden, Invalid, NotFound
from crmkit.events import DomainEvent
from crmkit.identity import Identity
from crmkit.money import format_money, parse_money
from crmkit.visibility import Owner, can_see, can_see_unowned, is_superior, may_work_on

from events.opportunity import FOLLOWUP_METHODS, LOST, OPEN, STATUSES, WON  # noqa: F401

# --------------------------------------------------------------------------- pipeline

# The two ways out of the pipeline. They look like stages to users (with a
# probability) but are reached only through win / lose, never through a stage change.
CLOSING = {
    WON: {"key": WON, "zh": "赢单", "en": "Won", "labels": {"zh": "赢单", "en": "Won"},
          "probability": 100},
    LOST: {"key": LOST, "zh": "输单", "en": "Lost", "labels": {"zh": "输单", "en": "Lost"},
           "probability": 0},
}
STAGE_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_STAGES = 20
LABEL_MAX = 40


@dataclass(frozen=True)
class Stage:
    key: str
    label_zh: str
    label_en: str
    probability: int  # the default probability (percent) of an opportunity in it
    order: int

    def to_dict(self) -> dict:
        return {"key": self.key, "zh": self.label_zh, "en": self.label_en,
                "labels": {"zh": self.label_zh, "en": self.label_en},
                "probability": self.probability, "order": self.order}


DEFAULT_STAGES = (
    Stage("lead", "线索", "Lead", 10, 1),
    Stage("needs_analysis", "需求分析", "Needs analysis", 25, 2),
    Stage("proposal", "方案提交", "Proposal", 50, 3),
    Stage("negotiation", "商务谈判", "Negotiation", 75, 4),
    Stage("contract", "合同签订", "Contract", 90, 5),
)


@dataclass(frozen=True)
class Pipeline:
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    version: int = 1

    @classmethod
    def default(cls) -> "Pipeline":
        return cls()

    @property
    def first(self) -> Stage:
        return self.stages[0]

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.stages]

    def stage(self, key: str) -> Stage | None:
        return next((s for s in self.stages if s.key == key), None)

    def probability_of(self, key: str) -> int | None:
        if key in CLOSING:
            return CLOSING[key]["probability"]
        found = self.stage(key)
        return found.probability if found else None

    def require_stage(self, key: str) -> Stage:
        if key in CLOSING:
            raise Invalid({"stage": [
                f"'{key}' closes the opportunity: use /win or /lose. "
                f"「{CLOSING[key]['labels']['zh']}」请通过赢单/输单操作完成。"]},
                code="closing_stage")
        found = self.stage(key)
        if found is None:
            raise Invalid({"stage": [f"Unknown stage '{key}'. Stages: {', '.join(self.keys)}. "
                                     "阶段不存在。"]}, code="unknown_stage")
        return found

    def replaced(self, stages: Iterable[Mapping[str, Any] | Stage],
                 open_counts: Mapping[str, int]) -> "Pipeline":
        """The pipeline after an admin's edit, or an error saying why not.

        `open_counts` is how many open opportunities sit in each stage now: a stage may
        not be removed while any do (they would be left in a stage that no longer
        exists). Renaming a key is a removal plus an addition, so the same rule holds.
        """
        new_stages = _parse_stages(list(stages))
        kept = {s.key for s in new_stages}
        blocked = {key: n for key, n in open_counts.items() if n and key not in kept}
        if blocked:
            names = ", ".join(f"{k} ({n})" for k, n in sorted(blocked.items()))
            raise Conflict(
                f"Open opportunities still sit in: {names}. Move them first. "
                "该阶段仍有进行中的商机,不能删除。",
                code="stage_in_use", stages=blocked)
        return Pipeline(tuple(new_stages), self.version + 1)

    def to_dict(self) -> dict:
        return {"stages": [s.to_dict() for s in self.stages],
                "closing": [dict(CLOSING[WON], labels=dict(CLOSING[WON]["labels"])),
                            dict(CLOSING[LOST], labels=dict(CLOSING[LOST]["labels"]))],
                "version": self.version}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> "Pipeline":
        stages = tuple(_stage_from(item, i) for i, item in enumerate(doc["stages"]))
        return cls(tuple(sorted(stages, key=lambda s: s.order)), int(doc.get("version", 1)))


def _stage_from(item: Mapping[str, Any] | Stage, position: int) -> Stage:
    if isinstance(item, Stage):
        return item
    # labels as {"labels": {"zh", "en"}} or flat "zh"/"en" (or "label_zh"/"label_en")
    labels = item.get("labels") or {}
    order = item.get("order")
    return Stage(
        key=item.get("key"),
        label_zh=labels.get("zh", item.get("zh", item.get("label_zh"))),
        label_en=labels.get("en", item.get("en", item.get("label_en"))),
        probability=item.get("probability"),
        order=position + 1 if order is None else order,  # list position by default
    )


def _parse_stages(items: list) -> list[Stage]:
    errors: dict[str, list[str]] = {}
    if not items:
        raise Invalid("stages", "At least one stage is needed. 至少需要一个阶段。")
    if len(items) > MAX_STAGES:
        raise Invalid("stages", f"At most {MAX_STAGES} stages.")
    stages = [_stage_from(item, i) for i, item in enumerate(items)]
    seen_keys: set[str] = set()
    seen_orders: set[int] = set()
    for i, s in enumerate(stages):
        at = f"stages.{i}"
        if not isinstance(s.key, str) or not STAGE_KEY.match(s.key):
            errors.setdefault(f"{at}.key", []).append(
                "Lower-case letters, digits and _ , starting with a letter.")
        elif s.key in CLOSING:
            errors.setdefault(f"{at}.key", []).append(
                f"'{s.key}' is reserved for closing an opportunity.")
        elif s.key in seen_keys:
            errors.setdefault(f"{at}.key", []).append("Duplicate stage key.")
        seen_keys.add(s.key)
        for lang, label in (("zh", s.label_zh), ("en", s.label_en)):
            if not isinstance(label, str) or not label.strip() or len(label) > LABEL_MAX:
                errors.setdefault(f"{at}.labels.{lang}", []).append(
                    f"A label of 1 to {LABEL_MAX} characters is required.")
        if (not isinstance(s.probability, int) or isinstance(s.probability, bool)
                or not 0 <= s.probability <= 100):
            errors.setdefault(f"{at}.probability", []).append(
                "A whole percentage from 0 to 100.")
        if not isinstance(s.order, int) or isinstance(s.order, bool):
            errors.setdefault(f"{at}.order", []).append("An integer.")
        elif s.order in seen_orders:
            errors.setdefault(f"{at}.order", []).append("Duplicate order.")
        else:
            seen_orders.add(s.order)
    if errors:
        raise Invalid(errors)
    ordered = sorted(stages, key=lambda s: s.order)
    # Stored orders are renumbered 1..n so "first stage" and sorting never tie.
    return [replace(s, label_zh=s.label_zh.strip(), label_en=s.label_en.strip(), order=i + 1)
            for i, s in enumerate(ordered)]


# --------------------------------------------------------------------------- values

FOLLOWUP_REMINDER_LEAD = timedelta(days=1)
CURRENCY = re.compile(r"^[A-Z]{3}$")
NAME_MAX = 200
TEXT_MAX = 5000
NOTE_MAX = 2000
CONTRACT_NUMBER_MAX = 64
MAX_FOLLOWUP_PLANS = 500
MAX_REMINDERS = 500

# Free-text fields, checked for personal data that must never be stored (CONTRACT §4
# says so for customers; notes about a deal are no safer a place for an ID number).
FREE_TEXT = ("product", "strengths", "weaknesses", "key_factors", "risks", "next_action",
             "description")
EDITABLE = ("name", "contact_id", "product", "amount", "currency", "expected_close_date",
            "probability", "competitors", "strengths", "weaknesses", "key_factors",
            "risks", "next_action", "next_action_due", "description")


def new_id() -> str:
    return uuid.uuid4().hex


_ID_DIGITS = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx])(?![0-9A-Za-z])")
_CARD_DIGITS = re.compile(r"(?<!\d)(\d{16,19})(?!\d)")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _is_resident_id(text: str) -> bool:
    total = sum(int(d) * w for d, w in zip(text[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == text[17].upper()


def _passes_luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def holds_sensitive_number(text: str) -> bool:
    """A PRC resident ID number (checksum valid) or a bank card number (Luhn)."""
    compact = re.sub(r"[\s-]", "", text)
    return (any(_is_resident_id(m) for m in _ID_DIGITS.findall(compact))
            or any(_passes_luhn(m) for m in _CARD_DIGITS.findall(compact)))


def refuse_sensitive(field_name: str, text: str | None) -> None:
    if text and holds_sensitive_number(text):
        raise Invalid({field_name: [
            "Looks like an ID number or bank card number, which may not be stored. "
            "不得录入身份证号或银行卡号。"]}, code="sensitive_data")


def _text(field_name: str, value, *, required=False, limit=TEXT_MAX) -> str | None:
    if value is None:
        if required:
            raise Invalid(field_name, "Required. 必填。")
        return None
    if not isinstance(value, str):
        raise Invalid(field_name, "Must be text.")
    value = value.strip()
    if required and not value:
        raise Invalid(field_name, "Required. 必填。")
    if len(value) > limit:
        raise Invalid(field_name, f"At most {limit} characters.")
    refuse_sensitive(field_name, value)
    return value or None


def _money(field_name: str, value) -> Decimal:
    if isinstance(value, Decimal):
        value = str(value)
    try:
        return parse_money(value)
    except ValueError as exc:
        raise Invalid(field_name, str(exc)) from None


def _date(field_name: str, value) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime) or not isinstance(value, date):
        raise Invalid(field_name, "A date YYYY-MM-DD.")
    return value


def _moment(field_name: str, value) -> datetime:
    if not isinstance(value, datetime):
        raise Invalid(field_name, "A date-time with offset.")
    if value.tzinfo is None:
        raise Invalid(field_name, "The time needs a UTC offset, e.g. +08:00.")
    return as_utc(value)


def _probability(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise Invalid("probability", "A whole percentage from 0 to 100.")
    return value


def _competitors(value) -> list[str]:
    # Accept one text or a list of names; kept as a list of names.
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(i, str) for i in items):
        raise Invalid("competitors", "A list of names.")
    names = [i.strip() for i in items if i.strip()]
    if len(names) > 50 or any(len(n) > NAME_MAX for n in names):
        raise Invalid("competitors", f"At most 50 names of {NAME_MAX} characters.")
    for n in names:
        refuse_sensitive("competitors", n)
    return names


def _currency(value) -> str:
    if not isinstance(value, str) or not CURRENCY.match(value):
        raise Invalid("currency", "An ISO 4217 code such as CNY.")
    return value


# --------------------------------------------------------------------------- customer

@dataclass(frozen=True)
class CustomerRef:
    """What the opportunity service knows of a customer (from its read model)."""
    id: str
    owner: Owner | None  # None: unclaimed, in the pool
    region: str | None = None
    shared_with: tuple[str, ...] = ()
    name: str | None = None


# --------------------------------------------------------------------------- access

def can_use_customer(viewer: Identity, customer: CustomerRef | None) -> bool:
    """May the viewer open an opportunity on this customer? Full visibility per CONTRACT
    §3 (owner, sharees, the owner's superiors, admins); an unclaimed customer only for
    supervisors and up (the opportunity starts unowned)."""
    return customer is not None and may_work_on(
        viewer, customer.owner, customer.region,
        customer.shared_with if customer.owner is not None else ())


def require_customer(viewer: Identity, customer: CustomerRef | None) -> CustomerRef:
    if not can_use_customer(viewer, customer):
        raise Invalid({"customer_id": ["Unknown customer. 客户不存在或无权查看。"]},
                      code="unknown_customer")
    return customer


def can_read(viewer: Identity, opp: "Opportunity") -> bool:
    if opp.owner_id is None:
        return may_work_on(viewer, None, opp.region, opp.shared_with)
    return can_see(viewer, opp.owner, opp.shared_with)


def can_edit(viewer: Identity, opp: "Opportunity") -> bool:
    """Owner, the owner's superiors, admins. Sharees read only."""
    if opp.owner_id is None:
        return can_see_unowned(viewer, opp.region)
    return viewer.user_id == opp.owner_id or is_superior(viewer, opp.owner)


def require_read(viewer: Identity, opp: "Opportunity | None") -> "Opportunity":
    # What the caller may not see is answered as absent (404), never as 403.
    if opp is None or not can_read(viewer, opp):
        raise NotFound("Opportunity not found. 商机不存在。", code="not_found")
    return opp


def require_edit(viewer: Identity, opp: "Opportunity | None") -> "Opportunity":
    require_read(viewer, opp)
    if not can_edit(viewer, opp):
        raise Forbidden("Only the owner, their superiors and admins may change this "
                        "opportunity. 仅负责人、其上级和管理员可修改。", code="forbidden")
    return opp


# --------------------------------------------------------------------------- aggregate

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
             opportunity_id: str | None = None, **fields) -> "Opportunity":
        """A new opportunity at the pipeline's first stage, owned like its customer."""
        now = now or utcnow()
        customer = require_customer(viewer, customer)
        unknown = set(fields) - set(EDITABLE)
        if unknown:
            raise Invalid({f: ["Unknown field."] for f in sorted(unknown)},
                          code="unknown_field")
        first = pipeline.first
        opp = cls(
            id=opportunity_id or new_id(),
            name=_text("name", name, required=True, limit=NAME_MAX),
            customer_id=customer.id,
            amount=_money("amount", amount),
            expected_close_date=_required_date("expected_close_date", expected_close_date),
            stage=first.key,
            probability=first.probability,
            created_by=viewer.user_id,
            created_at=now, updated_at=now, stage_changed_at=now,
            region=customer.region,
            shared_with=list(customer.shared_with),
            customer_name=customer.name,
        )
        opp._set_owner(customer.owner)
        for key, value in fields.items():
            opp._assign_field(key, value, pipeline)
        opp.version = 1
        opp._record("opportunity.created", {"created_by": viewer.user_id})
        return opp

    # ---- plain edits

    def update(self, changes: Mapping[str, Any], *, actor_id: str, pipeline: Pipeline,
               now: datetime | None = None) -> dict:
        """Edit the descriptive fields; returns {field: [old, new]} of what changed."""
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
            self.name = _text("name", value, required=True, limit=NAME_MAX)
        elif key == "amount":
            self.amount = _money("amount", value)
        elif key == "currency":
            self.currency = _currency(value)
        elif key == "expected_close_date":
            self.expected_close_date = _required_date("expected_close_date", value)
        elif key == "next_action_due":
            self.next_action_due = _date("next_action_due", value)
        elif key == "probability":
            if value is None:  # back to following the stage
                self.probability_manual = False
                self.probability = pipeline.probability_of(self.stage) or 0
            else:
                self.probability = _probability(value)
                self.probability_manual = True
        elif key == "competitors":
            self.competitors = _competitors(value)
        elif key == "contact_id":
            self.contact_id = _text("contact_id", value, limit=64)
        elif key in FREE_TEXT:
            setattr(self, key, _text(key, value, limit=NAME_MAX if key == "product"
                                     else TEXT_MAX))
        else:  # pragma: no cover - guarded by EDITABLE
            raise Invalid(key, "Unknown field.")

    # ---- stages

    def change_stage(self, stage: str, note, *, actor_id: str, pipeline: Pipeline,
                     now: datetime | None = None) -> None:
        self._refuse_if_closed()
        now = now or utcnow()
        target = pipeline.require_stage(stage)
        note = _text("note", note, required=True, limit=NOTE_MAX)
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
            "actor_id": actor_id, "forward": _is_forward(pipeline, previous, target.key)})

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
        won_amount = _money("amount", amount)
        number = _contract_number(contract_number)
        signed = _required_date("signed_on", signed_on)
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
        reason = _text("reason", reason, required=True, limit=NOTE_MAX)
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
        start = _moment("start_at", start_at)
        end = _moment("end_at", end_at)
        if end <= start:
            raise Invalid("end_at", "Must be after start_at. 结束时间须晚于开始时间。")
        if end <= now:
            raise Invalid("end_at", "The plan is already over. 跟进计划时间已过。")
        if method not in FOLLOWUP_METHODS:
            raise Invalid("method", f"One of {', '.join(FOLLOWUP_METHODS)}.")
        content = _text("content", content, required=True, limit=TEXT_MAX)
        if len(self.followup_plans) >= MAX_FOLLOWUP_PLANS:
            raise Conflict("Too many follow-up plans on one opportunity.",
                           code="too_many_plans")
        # One day before the start, as the manual says; a plan starting sooner than
        # that gets no separate reminder (it is already at hand).
        remind_at = start - FOLLOWUP_REMINDER_LEAD
        reminders = [{"remind_at": remind_at}] if remind_at > now else []
        plan = {"id": new_id(), "start_at": start, "end_at": end, "method": method,
                "content": content, "assignee_id": self.owner_id or actor_id,
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
        moment = _moment("remind_at", remind_at)
        if moment <= now:
            raise Invalid("remind_at", "Must be in the future. 提醒时间须晚于当前时间。")
        note = _text("note", note, limit=NOTE_MAX)
        if len(self.reminders) >= MAX_REMINDERS:
            raise Conflict("Too many reminders on one opportunity.",
                           code="too_many_reminders")
        reminder = {"id": new_id(), "remind_at": moment, "note": note,
                    "user_id": self.owner_id or actor_id, "created_by": actor_id,
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


def _required_date(field_name: str, value) -> date:
    if value is None:
        raise Invalid(field_name, "Required. 必填。")
    return _date(field_name, value)


def _contract_number(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise Invalid("contract_number", "Required. 必填。")
    value = value.strip()
    if len(value) > CONTRACT_NUMBER_MAX:
        raise Invalid("contract_number", f"At most {CONTRACT_NUMBER_MAX} characters.")
    return value


def _is_forward(pipeline: Pipeline, from_key: str, to_key: str) -> bool:
    keys = pipeline.keys
    if from_key not in keys or to_key not in keys:
        return True
    return keys.index(to_key) > keys.index(from_key)


def sum_amounts(amounts: Iterable[Decimal]) -> Decimal:
    """Exact sum of money amounts (Decimal throughout, never float)."""
    return sum((Decimal(a) for a in amounts), Decimal("0.00"))
