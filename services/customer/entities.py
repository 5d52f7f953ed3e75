"""The parts of a customer record: its contacts and its follow-up records, and `plain`,
the JSON- and Mongo-friendly copy of a value that change logs and events carry."""
from __future__ import annotations

from dataclasses import dataclass, field, fields as dataclass_fields
from datetime import date, datetime
from decimal import Decimal

from crmkit.clock import isoformat
from crmkit.money import format_money


def plain(value):
    """A JSON- and Mongo-friendly copy of a value for change logs and event data."""
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass
class Contact:
    id: str
    name: str
    title: str | None = None
    department: str | None = None
    role: str | None = None
    gender: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None
    wechat: str | None = None
    birthday: date | None = None
    preference: str | None = None
    relationship: str | None = None
    notes: str | None = None
    is_primary: bool = False
    relations: list[dict] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def best_phone(self) -> str | None:
        return self.phone or self.mobile

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclass_fields(self)}

    def summary(self) -> dict:
        """What a change log shows of a contact: its set values, without ids and times."""
        return {k: plain(v) for k, v in self.as_dict().items()
                if k not in ("id", "created_at", "updated_at") and v not in (None, [])}


@dataclass
class Interaction:
    """A follow-up record (交往记录 / 跟进记录)."""

    id: str
    customer_id: str
    occurred_at: datetime
    method: str
    subject: str
    content: str
    created_by: str
    created_at: datetime
    feedback: str | None = None
    attitude: str | None = None
    next_action: str | None = None
    next_action_due: date | None = None
    contact_ids: list[str] = field(default_factory=list)
    opportunity_id: str | None = None
    location: str | None = None                       # 互动地点
    participants: list[str] = field(default_factory=list)   # 我方参与人: user ids
    key_information: str | None = None                # 关键信息点
    updated_at: datetime | None = None                # last edited (None: never)

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclass_fields(self)}
