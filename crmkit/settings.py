"""The organisation's settings (参数设置, CONTRACT §11): the shape every part agrees on,
and each service's own copy of them, built from `settings.updated`.

The gateway owns the settings (admins edit them through `PUT /settings`) and publishes
the whole of them with each change; every service keeps this small read model, like
crmkit.directory.UserDirectory keeps the users, and validates its input against the
data dictionary it holds:

    settings = OrgSettings(db)                     # composition root
    settings.subscribe(subscriptions)
    settings.current().require_choices({"industry": ("industry", data.get("industry"))})

An empty or missing list in the dictionary means free text, as before the dictionary
existed. `superiors_see_subordinates` (上下级强制共享) reaches the visibility rule through
the caller's identity (crmkit.identity.Identity.sees_subordinates, set by the gateway),
so that it holds the moment an admin changes it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from crmkit.bus.consumer import Subscriptions
from crmkit.bus.idempotent import apply_once
from crmkit.bus.ordering import order_key
from crmkit.errors import Invalid

SETTINGS = "org_settings"
SETTINGS_ID = "settings"
UPDATED = "settings.updated"
# The dictionary's option lists (each a list of strings) and its tag kinds (a mapping
# kind -> list of strings): CONTRACT §11.
LISTS = ("industry", "source", "relation", "loss_reason", "task_type")
TAGS = "tags"
DICTIONARY_KEYS = LISTS + (TAGS,)
# Bounds an admin's edit must keep.
MAX_OPTIONS = 200
MAX_OPTION_LENGTH = 60
MAX_TAG_KINDS = 30
MAX_KIND_LENGTH = 40


def empty_dictionary() -> dict:
    return {**{key: [] for key in LISTS}, TAGS: {}}


@dataclass(frozen=True)
class OrgParameters:
    """The settings as they stand: the defaults until an admin first edits them."""
    superiors_see_subordinates: bool = True
    dictionary: Mapping[str, Any] = field(default_factory=empty_dictionary)
    version: int = 0

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any] | None) -> "OrgParameters":
        if not doc:
            return cls()
        dictionary = empty_dictionary()
        given = doc.get("dictionary") or {}
        for key in LISTS:
            dictionary[key] = list(given.get(key) or [])
        dictionary[TAGS] = {kind: list(values or [])
                            for kind, values in (given.get(TAGS) or {}).items()}
        see = doc.get("superiors_see_subordinates")
        return cls(True if see is None else bool(see), dictionary,
                   int(doc.get("version") or 0))

    def to_dict(self) -> dict:
        return {"superiors_see_subordinates": self.superiors_see_subordinates,
                "dictionary": {key: list(self.dictionary.get(key) or []) for key in LISTS}
                | {TAGS: {k: list(v) for k, v in (self.dictionary.get(TAGS) or {}).items()}},
                "version": self.version}

    def choices(self, key: str) -> list[str] | None:
        """The allowed values of dictionary list `key` (tags: of every kind), or None
        when any value goes (no list set)."""
        if key == TAGS:
            values = [v for kind in (self.dictionary.get(TAGS) or {}).values() for v in kind]
        else:
            values = list(self.dictionary.get(key) or [])
        return values or None

    def problems(self, checks: Mapping[str, tuple[str, Any]]) -> dict[str, list[str]]:
        """{field: [message]} for each `field: (dictionary key, value or list of values)`
        whose value is not in a list that is set. None and "" are not checked (a field
        left empty is the field's own schema's business)."""
        errors: dict[str, list[str]] = {}
        for name, (key, value) in checks.items():
            allowed = self.choices(key)
            if allowed is None or value is None:
                continue
            values = value if isinstance(value, (list, tuple, set)) else [value]
            wrong = [v for v in values if v not in ("", None) and v not in allowed]
            if wrong:
                errors[name] = [
                    f"Not in the data dictionary: {', '.join(map(str, wrong))}; choose one of "
                    f"{', '.join(allowed)}. / 不在数据字典中:{'、'.join(map(str, wrong))},"
                    f"可选:{'、'.join(allowed)}。"]
        return errors

    def require_choices(self, checks: Mapping[str, tuple[str, Any]]) -> None:
        """422 `not_in_dictionary` naming each field whose value the dictionary refuses."""
        errors = self.problems(checks)
        if errors:
            raise Invalid(errors, code="not_in_dictionary")


class OrgSettings:
    """A service's copy of the settings (one document), from `settings.updated`."""

    def __init__(self, db):
        self._settings = db[SETTINGS]

    def subscribe(self, subscriptions: Subscriptions) -> None:
        subscriptions.on(UPDATED)(self.apply)

    def apply(self, envelope: dict) -> bool:
        data = envelope["data"]
        state = OrgParameters.from_dict(data).to_dict()
        key = order_key(envelope)
        # Older news never overwrites newer: the filter only matches an older copy.
        return apply_once(
            self._settings,
            {"_id": SETTINGS_ID, "$or": [{"order_key": {"$lt": key}}, {"order_key": None}]},
            {"$set": {**state, "order_key": key}}, envelope["id"], upsert=True)

    def current(self) -> OrgParameters:
        return OrgParameters.from_dict(self._settings.find_one({"_id": SETTINGS_ID}))


def unique_options(values: Iterable[str]) -> list[str]:
    """The repeated values of an option list (an admin's edit must not repeat one)."""
    seen: set[str] = set()
    repeated = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated
