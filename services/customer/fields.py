"""Cleaning the fields of customers, contacts and follow-up records.

The API schemas already reject wrong types and unknown fields; these functions are the
domain's own guard (the importer and the consumers call the domain without the API) and
hold the business rules of a value: enumerations, lengths, phone rules, sensitive data.
Each returns cleaned values or raises one `Invalid` listing every offending field.
"""
from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from crmkit.clock import as_utc
from crmkit.errors import Invalid
from crmkit.money import parse_money
from events.customer import METHODS, STATUSES  # noqa: F401  (the events' vocabulary)

from services.customer import validation

LEVELS = ("A", "B", "C", "D")
CONTACT_ROLES = ("decision_maker", "influencer", "user", "evaluator", "other")
RELATIONSHIPS = ("stranger", "acquainted", "familiar", "trusted", "partner")
ATTITUDES = ("positive", "neutral", "negative")

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SHORT, MEDIUM, LONG = 100, 500, 5000
MAX_TAGS = 50

CUSTOMER_TEXT = {"name": 200, "industry": SHORT, "source": SHORT, "source_detail": MEDIUM,
                 "size": SHORT, "address": MEDIUM, "needs": LONG, "region": 50}
# 002's 需求信息 / 首次接触日期: budget (预算, exact money), purchase_time (采购时间, the
# planned purchase date: the seed's field type is 日期) and first_contact_on (首次接触日期).
CUSTOMER_DATES = ("last_deal_on", "purchase_time", "first_contact_on")
CUSTOMER_FIELDS = set(CUSTOMER_TEXT) | {"status", "level", "tags", "primary_contact",
                                        "deal_amount", "budget", *CUSTOMER_DATES}
CUSTOMER_REQUIRED = ("name", "industry", "status")
PRIMARY_CONTACT_TEXT = {"name": SHORT, "phone": 30, "email": 200, "title": SHORT}

CONTACT_TEXT = {"name": SHORT, "title": SHORT, "department": SHORT, "gender": 20,
                "phone": 30, "mobile": 30, "email": 200, "wechat": SHORT,
                "preference": MEDIUM, "notes": LONG}
CONTACT_FIELDS = set(CONTACT_TEXT) | {"role", "relationship", "birthday", "is_primary",
                                      "relations"}

# Seed 002's 互动地点 (location), 我方参与人 (participants: our users, by id) and 关键信息点
# (key_information) too.
INTERACTION_TEXT = {"subject": 200, "content": LONG, "feedback": LONG, "next_action": MEDIUM,
                    "opportunity_id": SHORT, "location": 200, "key_information": LONG}
INTERACTION_FIELDS = set(INTERACTION_TEXT) | {"occurred_at", "method", "attitude",
                                              "next_action_due", "contact_ids",
                                              "participants"}
INTERACTION_REQUIRED = ("occurred_at", "method", "subject", "content")
MAX_PARTICIPANTS = 50

REQUIRED = "Missing data for required field. / 必填项。"


class _Errors:
    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.items: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.items.setdefault(self.prefix + field, []).append(message)

    def raise_if_any(self) -> None:
        if self.items:
            raise Invalid(self.items)


def _text(errors: _Errors, field: str, value, limit: int):
    if value is None:
        return None
    if not isinstance(value, str):
        errors.add(field, "Must be text.")
        return None
    value = value.strip()
    if len(value) > limit:
        errors.add(field, f"At most {limit} characters.")
    return value or None


def _choice(errors: _Errors, field: str, value, choices):
    if value is None:
        return None
    if value not in choices:
        errors.add(field, f"Must be one of: {', '.join(choices)}.")
        return None
    return value


def _date(errors: _Errors, field: str, value):
    if value is None or isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors.add(field, "Must be a date YYYY-MM-DD.")
    return None


def _moment(errors: _Errors, field: str, value):
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors.add(field, "Must be a date-time with offset (ISO 8601).")
            return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            errors.add(field, "The time needs a UTC offset.")
            return None
        return as_utc(value)
    if value is not None:
        errors.add(field, "Must be a date-time with offset (ISO 8601).")
    return None


def _phone(errors: _Errors, field: str, value):
    if value is None:
        return None
    try:
        return validation.clean_phone(value)
    except validation.PhoneError as exc:
        errors.add(field, str(exc))
        return None


def _email(errors: _Errors, field: str, value, limit=200):
    value = _text(errors, field, value, limit)
    if value and not EMAIL.match(value):
        errors.add(field, "Not a valid email address.")
    return value


def _refuse_sensitive(values: dict, prefix: str = "") -> None:
    validation.refuse_sensitive(values, prefix)


def clean_customer(data: dict, *, partial: bool) -> dict:
    """Customer fields a client may set. `partial` (PATCH) makes nothing required."""
    errors = _Errors()
    for field in sorted(set(data) - CUSTOMER_FIELDS):
        errors.add(field, "Unknown or server-managed field.")
    out: dict = {}
    for field, limit in CUSTOMER_TEXT.items():
        if field in data:
            out[field] = _text(errors, field, data[field], limit)
    if "status" in data:
        out["status"] = _choice(errors, "status", data["status"], STATUSES)
    if "level" in data:
        out["level"] = _choice(errors, "level", data["level"], LEVELS)
    if "tags" in data:
        out["tags"] = clean_tags(errors, data["tags"])
    if "deal_amount" in data:
        if data["deal_amount"] is None:
            out["deal_amount"] = Decimal("0.00")
        else:
            try:
                out["deal_amount"] = parse_money(data["deal_amount"])
            except ValueError as exc:
                errors.add("deal_amount", str(exc))
    if "budget" in data:   # null clears it; negative, > 2 decimals or not a number: refused
        if data["budget"] is None:
            out["budget"] = None
        else:
            try:
                out["budget"] = parse_money(data["budget"])
            except ValueError as exc:
                errors.add("budget", f"{exc} / 预算须为不小于 0、最多两位小数的金额。")
    for field in CUSTOMER_DATES:
        if field in data:
            out[field] = _date(errors, field, data[field])
    if "primary_contact" in data:
        out["primary_contact"] = clean_primary_contact(errors, data["primary_contact"],
                                                       partial=partial)
    required = () if partial else CUSTOMER_REQUIRED
    for field in required:
        if out.get(field) in (None, ""):
            errors.add(field, REQUIRED)
    for field in CUSTOMER_REQUIRED:  # a PATCH may not blank a required field either
        if partial and field in data and out.get(field) in (None, "") and \
                not errors.items.get(field):
            errors.add(field, REQUIRED)
    if not partial and "primary_contact" not in data:
        errors.add("primary_contact.name", REQUIRED)
        errors.add("primary_contact.phone", REQUIRED)
    errors.raise_if_any()
    _refuse_sensitive({k: v for k, v in out.items() if isinstance(v, (str, list, dict))})
    return out


def clean_tags(errors: _Errors, tags) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, (list, tuple)):
        errors.add("tags", "Must be a list of text.")
        return []
    if len(tags) > 4 * MAX_TAGS:   # an imported cell can hold any number: refuse before the work
        errors.add("tags", f"At most {MAX_TAGS} tags.")
        return []
    clean: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            errors.add("tags", "Each tag must be non-empty text.")
            continue
        if len(tag.strip()) > 50:
            errors.add("tags", "A tag has at most 50 characters.")
            continue
        if tag.strip() not in clean:
            clean.append(tag.strip())
    if len(clean) > MAX_TAGS:
        errors.add("tags", f"At most {MAX_TAGS} tags.")
    return clean


def clean_primary_contact(errors: _Errors, value, *, partial: bool) -> dict | None:
    if not isinstance(value, dict):
        errors.add("primary_contact", "Must be an object {name, phone, email?, title?}.")
        return None
    sub = _Errors("primary_contact.")
    for field in sorted(set(value) - set(PRIMARY_CONTACT_TEXT)):
        sub.add(field, "Unknown field.")
    out = {}
    for field in ("name", "title"):
        if field in value:
            out[field] = _text(sub, field, value[field], PRIMARY_CONTACT_TEXT[field])
    if "email" in value:
        out["email"] = _email(sub, "email", value["email"])
    if "phone" in value:
        out["phone"] = _phone(sub, "phone", value["phone"])
    for field in ("name", "phone"):
        if (not partial or field in value) and not out.get(field) and \
                not sub.items.get("primary_contact." + field):
            sub.add(field, REQUIRED)
    for key, messages in sub.items.items():
        errors.items.setdefault(key, []).extend(messages)
    return out


def clean_contact(data: dict, *, partial: bool) -> dict:
    errors = _Errors()
    for field in sorted(set(data) - CONTACT_FIELDS):
        errors.add(field, "Unknown or server-managed field.")
    out: dict = {}
    for field, limit in CONTACT_TEXT.items():
        if field in data and field not in ("phone", "mobile", "email"):
            out[field] = _text(errors, field, data[field], limit)
    for field in ("phone", "mobile"):
        if field in data:
            out[field] = _phone(errors, field, data[field])
    if "email" in data:
        out["email"] = _email(errors, "email", data["email"])
    if "role" in data:
        out["role"] = _choice(errors, "role", data["role"], CONTACT_ROLES)
    if "relationship" in data:
        out["relationship"] = _choice(errors, "relationship", data["relationship"],
                                      RELATIONSHIPS)
    if "birthday" in data:
        out["birthday"] = _date(errors, "birthday", data["birthday"])
    if "is_primary" in data:
        if not isinstance(data["is_primary"], bool):
            errors.add("is_primary", "Must be true or false.")
        else:
            out["is_primary"] = data["is_primary"]
    if "relations" in data:
        out["relations"] = clean_relations(errors, data["relations"])
    if (not partial or "name" in data) and not out.get("name") and "name" not in errors.items:
        errors.add("name", REQUIRED)
    errors.raise_if_any()
    _refuse_sensitive({k: v for k, v in out.items() if not isinstance(v, (bool, date))})
    return out


def clean_relations(errors: _Errors, relations) -> list[dict]:
    if relations is None:
        return []
    if not isinstance(relations, list):
        errors.add("relations", "Must be a list of {relation, name}.")
        return []
    clean = []
    for item in relations:
        if not isinstance(item, dict) or set(item) - {"relation", "name"}:
            errors.add("relations", "Each item is {relation, name}.")
            continue
        relation = _text(errors, "relations.relation", item.get("relation"), SHORT)
        name = _text(errors, "relations.name", item.get("name"), SHORT)
        if not relation or not name:
            errors.add("relations", "Each item needs relation and name.")
            continue
        clean.append({"relation": relation, "name": name})
    return clean


def clean_interaction(data: dict, *, partial: bool = False) -> dict:
    """A follow-up's fields; `partial` (PATCH) cleans only the fields given and makes
    nothing required (a required one given empty is still refused)."""
    errors = _Errors()
    for field in sorted(set(data) - INTERACTION_FIELDS):
        errors.add(field, "Unknown or server-managed field.")
    out: dict = {}
    for field, limit in INTERACTION_TEXT.items():
        if field in data:
            out[field] = _text(errors, field, data[field], limit)
    if not partial or "occurred_at" in data:
        out["occurred_at"] = _moment(errors, "occurred_at", data.get("occurred_at"))
    if not partial or "method" in data:
        out["method"] = _choice(errors, "method", data.get("method"), METHODS)
    if "attitude" in data:
        out["attitude"] = _choice(errors, "attitude", data["attitude"], ATTITUDES)
    if "next_action_due" in data:
        out["next_action_due"] = _date(errors, "next_action_due", data["next_action_due"])
    for field in ("contact_ids", "participants"):
        if partial and field not in data:
            continue
        ids = data.get(field) or []
        if not isinstance(ids, list) or not all(isinstance(c, str) and c for c in ids):
            errors.add(field, "Must be a list of ids. / 须为 id 列表。")
            ids = []
        out[field] = list(dict.fromkeys(ids))
    if len(out.get("participants") or ()) > MAX_PARTICIPANTS:
        errors.add("participants", f"At most {MAX_PARTICIPANTS} participants. "
                                   f"/ 最多 {MAX_PARTICIPANTS} 名参与人。")
    for field in INTERACTION_REQUIRED:
        if (not partial or field in data) and not out.get(field) and field not in errors.items:
            errors.add(field, REQUIRED)
    errors.raise_if_any()
    _refuse_sensitive({k: v for k, v in out.items() if isinstance(v, str)})
    return out
