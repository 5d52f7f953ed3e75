"""The pool rules: when an owned customer goes back to the pool by itself (auto-reclaim).

`PoolRules` is what an admin sets with `PUT /pool/rules` (CONTRACT §4). Its defaults
reclaim nothing and limit nothing, so an organisation that never touches the rules sees
no surprise. Fields an admin leaves out take their defaults (PUT replaces the rules).

Auto-reclaim, for a customer that has an owner and a status that is not exempt:
- follow-up deadline: the later of the last follow-up and the day the current owner got
  the customer, plus `level_days[level]` if the customer's level has its own figure, else
  `days_without_followup`;
- deal deadline: the later of the last deal and the day the owner got it, plus
  `days_without_deal`;
- the earlier deadline wins. On or after it the customer is reclaimed; from
  `warn_days_before` days before it the owner is warned, once per deadline.
Counting from the day the current owner got the customer keeps a freshly assigned
customer from being taken away for its previous owner's neglect.

Dates are the organisation's local dates (`as_of` of `POST /pool/reclaim` is one).
The rules of claiming (limit, cool-down) are with the claim itself, in `ownership.py`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from crmkit.clock import as_utc, local_date, org_timezone
from crmkit.errors import Invalid

STATUSES = ("potential", "intent", "deal", "lost")
LEVELS = ("A", "B", "C", "D")
MAX_DAYS = 3650


@dataclass(frozen=True)
class PoolRules:
    auto_reclaim: bool = False
    days_without_followup: int | None = None
    days_without_deal: int | None = None
    level_days: dict[str, int] = field(default_factory=dict)
    exempt_statuses: tuple[str, ...] = ()
    warn_days_before: int = 0
    claim_limit: int | None = None
    reclaim_cooldown_days: int = 0

    @classmethod
    def from_dict(cls, data: dict | None) -> "PoolRules":
        """Build and check rules from stored or client data (unknown keys refused)."""
        data = dict(data or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise Invalid({k: ["Unknown field."] for k in unknown}, code="unknown_field")
        errors: dict[str, list[str]] = {}

        def days(name, *, minimum=1, optional=True):
            value = data.get(name)
            if value is None and optional:
                return None
            if isinstance(value, bool) or not isinstance(value, int) or not (
                    minimum <= value <= MAX_DAYS):
                errors[name] = [f"Must be a whole number from {minimum} to {MAX_DAYS}."]
                return None
            return value

        auto = data.get("auto_reclaim", False)
        if not isinstance(auto, bool):
            errors["auto_reclaim"] = ["Must be true or false."]
        level_days = data.get("level_days") or {}
        clean_levels: dict[str, int] = {}
        if not isinstance(level_days, dict):
            errors["level_days"] = ["Must be an object like {\"A\": 90}."]
        else:
            for level, value in level_days.items():
                if level not in LEVELS:
                    errors[f"level_days.{level}"] = ["Level must be one of A, B, C, D."]
                elif isinstance(value, bool) or not isinstance(value, int) or not (
                        1 <= value <= MAX_DAYS):
                    errors[f"level_days.{level}"] = [f"Must be a whole number from 1 to "
                                                     f"{MAX_DAYS}."]
                else:
                    clean_levels[level] = value
        exempt = data.get("exempt_statuses") or []
        if not isinstance(exempt, (list, tuple)) or any(s not in STATUSES for s in exempt):
            errors["exempt_statuses"] = [f"Each must be one of {', '.join(STATUSES)}."]
            exempt = []
        warn = data.get("warn_days_before")
        warn = 0 if warn is None else days("warn_days_before", minimum=0)
        limit = data.get("claim_limit")
        if limit is not None:
            limit = days("claim_limit", minimum=0)
        cooldown = data.get("reclaim_cooldown_days")
        cooldown = 0 if cooldown is None else days("reclaim_cooldown_days", minimum=0)
        rules = dict(
            days_without_followup=days("days_without_followup"),
            days_without_deal=days("days_without_deal"),
        )
        if errors:
            raise Invalid(errors)
        return cls(auto_reclaim=bool(auto), level_days=clean_levels,
                   exempt_statuses=tuple(dict.fromkeys(exempt)), warn_days_before=warn or 0,
                   claim_limit=limit, reclaim_cooldown_days=cooldown or 0, **rules)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["exempt_statuses"] = list(self.exempt_statuses)
        out["level_days"] = dict(self.level_days)
        return out


@dataclass(frozen=True)
class ReclaimDecision:
    action: str                  # "reclaim" | "warn" | "none"
    reason: str | None = None    # "no_followup" | "no_deal"
    due_on: date | None = None
    days_left: int | None = None

    @property
    def is_none(self) -> bool:
        return self.action == "none"


NOTHING = ReclaimDecision("none")


def _day(value, tz: ZoneInfo) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return local_date(as_utc(value), tz)
    return value


def deadlines(rules: PoolRules, customer, tz: ZoneInfo | None = None) -> list[tuple[date, str]]:
    """(due date, reason) for each rule that applies to the customer, earliest first."""
    tz = tz or org_timezone()
    owned_since = _day(getattr(customer, "owned_since", None) or customer.created_at, tz)
    found: list[tuple[date, str]] = []
    followup_days = rules.level_days.get(customer.level or "") or rules.days_without_followup
    if followup_days:
        last = _day(customer.last_followup_at, tz)
        base = max(d for d in (last, owned_since) if d is not None)
        found.append((base + timedelta(days=followup_days), "no_followup"))
    if rules.days_without_deal:
        last = _day(customer.last_deal_on, tz)
        base = max(d for d in (last, owned_since) if d is not None)
        found.append((base + timedelta(days=rules.days_without_deal), "no_deal"))
    return sorted(found)


def decide(rules: PoolRules, customer, as_of: date, tz: ZoneInfo | None = None
           ) -> ReclaimDecision:
    """Reclaim, warn or leave alone `customer` on the local date `as_of`."""
    if not rules.auto_reclaim or customer.owner_id is None:
        return NOTHING
    if getattr(customer, "deleted", False) or customer.status in rules.exempt_statuses:
        return NOTHING
    due = deadlines(rules, customer, tz)
    if not due:
        return NOTHING
    due_on, reason = due[0]
    days_left = (due_on - as_of).days
    if days_left <= 0:
        return ReclaimDecision("reclaim", reason, due_on, 0)
    if rules.warn_days_before and days_left <= rules.warn_days_before:
        if getattr(customer, "reclaim_warned_for", None) == due_on:
            return NOTHING  # this deadline was already announced
        return ReclaimDecision("warn", reason, due_on, days_left)
    return NOTHING
