"""The opportunity service's own read model of customers, built from customer events only.

It answers: does the customer exist, who owns it (id, team, region), whom is it shared
with, which region is it in. The customer service is never called.

Ordering and duplicates (at-least-once, several competing consumers):
  every event gets a `Stamp`: the customer's document `version` after the change when
  the event carries it (`data.version`, or `data.customer.version`), else the envelope's
  `occurred_at`; ties are broken by event id so that every replica decides alike.
  Each part of the record keeps the stamp of the event that last set it: the owner
  (id, team, region), the profile (name, region), and every sharee separately (a
  last-writer-wins set, so a late `customer.shared` cannot undo a newer
  `customer.unshared`). An event only changes the parts it is newer for, so a
  duplicate or an older event arriving late changes nothing. Deletion is final: the
  customer service can only delete an unclaimed customer and never brings it back.

Opportunities are then reconciled with the record (see `CustomerView.owner_ref`):
moving them is idempotent, so a crash between the two writes heals on redelivery.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping

from crmkit.clock import as_utc
from crmkit.visibility import Owner

from services.opportunity.domain import CustomerRef

CUSTOMER_EVENTS = (
    "customer.created", "customer.updated", "customer.claimed", "customer.returned",
    "customer.recovered", "customer.assigned", "customer.shared", "customer.unshared",
    "customer.deleted",
)
# Events that put a customer back in the pool. "customer.reclaimed" is not in the
# contract; auto-reclaim is expected to publish customer.returned, but a dedicated
# type would mean the same.
TO_POOL = ("customer.returned", "customer.recovered", "customer.reclaimed")
OWNER_EVENTS = ("customer.created", "customer.updated", "customer.claimed",
                "customer.assigned") + TO_POOL

ResolveOwner = Callable[[str], "Owner | None"]


# --------------------------------------------------------------------------- stamps

@dataclass(frozen=True)
class Stamp:
    version: int | None
    at: datetime | None
    event_id: str

    def newer_than(self, other: "Stamp | None") -> bool:
        if other is None:
            return True
        if self.event_id == other.event_id:
            return False  # the same event again
        if self.version is not None and other.version is not None:
            if self.version != other.version:
                return self.version > other.version
        elif self.at is not None and other.at is not None and self.at != other.at:
            return self.at > other.at
        return self.event_id > other.event_id

    def to_doc(self) -> dict:
        return {"version": self.version, "at": self.at, "event_id": self.event_id}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any] | None) -> "Stamp | None":
        if not doc:
            return None
        at = doc.get("at")
        return cls(doc.get("version"), _moment(at), doc.get("event_id", ""))


def stamp_of(envelope: Mapping[str, Any]) -> Stamp:
    data = _data(envelope)
    version = data.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        version = None
    return Stamp(version, _moment(envelope.get("occurred_at")), str(envelope.get("id", "")))


def _moment(value) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def _data(envelope: Mapping[str, Any]) -> dict:
    """The event's data, with a nested `customer` snapshot flattened underneath it."""
    data = dict(envelope.get("data") or {})
    nested = data.get("customer")
    if isinstance(nested, Mapping):
        data = {**nested, **{k: v for k, v in data.items() if k != "customer"}}
    return data


# --------------------------------------------------------------------------- the view

@dataclass
class CustomerView:
    id: str
    deleted: bool = False
    name: str | None = None
    region: str | None = None
    owner_id: str | None = None
    owner_team: str | None = None
    owner_region: str | None = None
    # why and by whom the owner last changed (used when opportunities follow it)
    owner_cause: str | None = None
    owner_actor_id: str | None = None
    owner_stamp: Stamp | None = None
    profile_stamp: Stamp | None = None
    # user id -> (shared?, stamp of the event that said so)
    shares: dict[str, tuple[bool, Stamp]] = field(default_factory=dict)
    applied: int = 0  # events that changed something (diagnostics)

    @property
    def exists(self) -> bool:
        # Any event about a customer proves it exists, even before customer.created
        # arrives; deletion ends it.
        return not self.deleted and (self.owner_stamp is not None
                                     or self.profile_stamp is not None)

    @property
    def shared_with(self) -> tuple[str, ...]:
        return tuple(sorted(u for u, (on, _) in self.shares.items() if on))

    @property
    def owner(self) -> Owner | None:
        if self.owner_id is None:
            return None
        return Owner(self.owner_id, self.owner_team, self.owner_region)

    def as_ref(self) -> CustomerRef | None:
        if not self.exists:
            return None
        return CustomerRef(id=self.id, owner=self.owner, region=self.region,
                           shared_with=self.shared_with, name=self.name)

    # ---- persistence (plain dicts; the repository stores them as they are)

    def to_doc(self) -> dict:
        return {
            "_id": self.id, "deleted": self.deleted, "exists": self.exists,
            "name": self.name, "region": self.region, "owner_id": self.owner_id,
            "owner_team": self.owner_team, "owner_region": self.owner_region,
            "owner_cause": self.owner_cause, "owner_actor_id": self.owner_actor_id,
            "owner_stamp": self.owner_stamp.to_doc() if self.owner_stamp else None,
            "profile_stamp": self.profile_stamp.to_doc() if self.profile_stamp else None,
            "shares": [{"user_id": u, "on": on, "stamp": s.to_doc()}
                       for u, (on, s) in sorted(self.shares.items())],
            "shared_with": list(self.shared_with), "applied": self.applied,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "CustomerView":
        return cls(
            id=doc["_id"], deleted=doc.get("deleted", False), name=doc.get("name"),
            region=doc.get("region"), owner_id=doc.get("owner_id"),
            owner_team=doc.get("owner_team"), owner_region=doc.get("owner_region"),
            owner_cause=doc.get("owner_cause"), owner_actor_id=doc.get("owner_actor_id"),
            owner_stamp=Stamp.from_doc(doc.get("owner_stamp")),
            profile_stamp=Stamp.from_doc(doc.get("profile_stamp")),
            shares={s["user_id"]: (s["on"], Stamp.from_doc(s["stamp"]))
                    for s in doc.get("shares", [])},
            applied=doc.get("applied", 0),
        )


@dataclass(frozen=True)
class Applied:
    changed: bool           # the record changed, stamps included (worth writing)
    owner_changed: bool     # the owner (or their team/region) changed
    shares_changed: bool
    deleted: bool


def apply_event(view: CustomerView | None, envelope: Mapping[str, Any], *,
                resolve_owner: ResolveOwner | None = None) -> tuple[CustomerView, Applied]:
    """Fold one customer event into the customer's record (a new record if none).

    `resolve_owner(user_id)` fills in the owner's team and region when the event does
    not carry them (from the service's copy of users); without either they stay None.
    """
    event_type = envelope.get("type", "")
    customer_id = str(envelope.get("aggregate_id") or _data(envelope).get("id")
                      or _data(envelope).get("customer_id"))
    view = view if view is not None else CustomerView(id=customer_id)
    data = _data(envelope)
    stamp = stamp_of(envelope)
    before = (view.owner, view.shared_with, view.deleted, view.name, view.region)
    before_doc = view.to_doc()

    if event_type == "customer.deleted":
        view.deleted = True
    _apply_profile(view, data, stamp)
    owner = _owner_named(event_type, data, envelope)
    if owner is not _UNCHANGED and stamp.newer_than(view.owner_stamp):
        if owner != view.owner_id or view.owner_stamp is None:
            view.owner_cause = event_type
            view.owner_actor_id = envelope.get("actor_id")
        view.owner_id = owner
        view.owner_team, view.owner_region = _owner_place(owner, data, resolve_owner)
        view.owner_stamp = stamp
    _apply_shares(view, event_type, data, stamp)

    after = (view.owner, view.shared_with, view.deleted, view.name, view.region)
    # Changed also when only a stamp moved on: a newer event restating the same owner
    # must still outrank an older one that arrives after it.
    changed = view.to_doc() != before_doc
    if changed:
        view.applied += 1
    return view, Applied(changed=changed, owner_changed=before[0] != after[0],
                         shares_changed=before[1] != after[1],
                         deleted=view.deleted and not before[2])


_UNCHANGED = object()


def _owner_named(event_type: str, data: Mapping[str, Any], envelope) -> Any:
    """The owner id an event states (None = in the pool), or _UNCHANGED.

    Customer events carry the customer's snapshot, so most of them state the owner as
    it was after the change; the type decides where the snapshot is silent.
    """
    if event_type == "customer.deleted":
        return _UNCHANGED
    if event_type in TO_POOL:
        return None
    if event_type == "customer.claimed":
        return _first(data, "owner_id", "user_id", "claimed_by") or envelope.get("actor_id")
    if event_type == "customer.assigned":
        found = _first(data, "owner_id", "to_owner_id", "new_owner_id", "user_id",
                       "assignee_id")
        return found if found else _UNCHANGED
    changes = data.get("changes") if isinstance(data.get("changes"), Mapping) else {}
    if isinstance(changes.get("owner_id"), (list, tuple)):
        return changes["owner_id"][-1]
    if "owner_id" in data:
        return data["owner_id"]
    return _UNCHANGED


def _owner_place(owner_id: str | None, data: Mapping[str, Any],
                 resolve_owner: ResolveOwner | None) -> tuple[str | None, str | None]:
    if owner_id is None:
        return None, None
    nested = data.get("owner") if isinstance(data.get("owner"), Mapping) else {}
    team = data.get("owner_team") or nested.get("team")
    region = data.get("owner_region") or nested.get("region")
    if (team is None or region is None) and resolve_owner is not None:
        known = resolve_owner(owner_id)
        if known is not None:
            team, region = team or known.team, region or known.region
    return team, region


def _apply_profile(view: CustomerView, data: Mapping[str, Any], stamp: Stamp) -> None:
    changes = data.get("changes") if isinstance(data.get("changes"), Mapping) else {}
    found = {}
    for key in ("name", "region"):
        if isinstance(changes.get(key), (list, tuple)):
            found[key] = changes[key][-1]
        elif key in data:
            found[key] = data[key]
    if not found or not stamp.newer_than(view.profile_stamp):
        return
    for key, value in found.items():
        setattr(view, key, value)
    view.profile_stamp = stamp


def _apply_shares(view: CustomerView, event_type: str, data: Mapping[str, Any],
                  stamp: Stamp) -> None:
    # A full list (the snapshot every customer event carries) states the whole set;
    # otherwise shared / unshared name the users added or removed.
    if isinstance(data.get("shared_with"), list):
        _set_shares(view, data["shared_with"], stamp, full=True)
    elif event_type == "customer.shared":
        _set_shares(view, _user_ids(data), stamp, on=True)
    elif event_type == "customer.unshared":
        _set_shares(view, _user_ids(data), stamp, on=False)


def _set_shares(view: CustomerView, user_ids, stamp: Stamp, *, on=True, full=False) -> None:
    listed = {str(u) for u in user_ids}
    targets = listed | (set(view.shares) if full else set())
    for user_id in targets:
        state = (user_id in listed) if full else on
        current = view.shares.get(user_id)
        if current is None or stamp.newer_than(current[1]):
            view.shares[user_id] = (state, stamp)


def _user_ids(data: Mapping[str, Any]) -> list[str]:
    ids = data.get("user_ids")
    if isinstance(ids, list):
        return ids
    one = data.get("user_id")
    return [one] if one else []


def _first(data: Mapping[str, Any], *keys: str):
    for key in keys:
        if data.get(key):
            return data[key]
    return None
