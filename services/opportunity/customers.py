"""The opportunity service's own copy of customers, built from customer events only.

It answers: does the customer exist, who owns it (id, team, region), whom is it shared
with, which region is it in. The customer service is never called.

Every customer.* event carries the customer as it is after the change (its snapshot,
`events.customer.CustomerSnapshotData`), so one event states everything this copy keeps:
the copy takes the snapshot of an event that is newer than the one it holds, by the one
ordering rule (`crmkit.bus.ordering.order_key`: the customer's `version`, then the time,
then the event id), and keeps that event's key. A duplicate or an older event arriving
late therefore changes nothing. Deletion is final: the customer service only deletes an
unclaimed customer and never brings it back.

Opportunities are then reconciled with the copy (see handlers.reconcile): moving them is
idempotent, so a crash between the two writes heals on redelivery.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from crmkit.bus.ordering import order_key
from crmkit.visibility import Owner

# The customer events this copy follows; each carries the customer's snapshot.
CUSTOMER_EVENTS = (
    "customer.created", "customer.updated", "customer.claimed", "customer.returned",
    "customer.recovered", "customer.assigned", "customer.shared", "customer.unshared",
    "customer.deleted",
)
# Contact events update only the copy's list of the customer's contact ids.
CONTACT_EVENTS = ("contact.created", "contact.deleted")
CREATED, DELETED = "customer.created", "customer.deleted"


@dataclass(frozen=True)
class CustomerRef:
    """What the opportunity service knows of a customer (from its copy)."""
    id: str
    owner: Owner | None  # None: unclaimed, in the pool
    region: str | None = None
    shared_with: tuple[str, ...] = ()
    name: str | None = None
    shared_teams: tuple[str, ...] = ()   # team paths shared with (CONTRACT §11)
    # The customer's contact ids; None: not known yet (a copy made from events that did
    # not carry them): an opportunity's contact_id is then accepted unchecked.
    contact_ids: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Applied:
    changed: bool           # the copy changed, its key included (worth writing)
    owner_changed: bool     # the owner (or their team/region) changed
    shares_changed: bool
    deleted: bool


@dataclass
class CustomerView:
    id: str
    deleted: bool = False
    name: str | None = None
    region: str | None = None
    owner_id: str | None = None
    owner_team: str | None = None
    owner_region: str | None = None
    # why and by whom the owner last changed (opportunities that follow it say so)
    owner_cause: str | None = None
    owner_actor_id: str | None = None
    shared_with: tuple[str, ...] = ()
    shared_teams: tuple[str, ...] = ()
    key: str | None = None  # order key of the event whose snapshot this is
    contact_ids: tuple[str, ...] | None = None   # None: not known yet
    contacts_key: str | None = None  # order key of the event that listed contact_ids
    # The copy's own revision, for the conditional write that stores it (raised once
    # per event that changes it); a read model records no events of its own.
    version: int = 0
    events: list = field(default_factory=list, repr=False, compare=False)

    @property
    def exists(self) -> bool:
        # Any event about a customer proves it exists, even before customer.created
        # arrives; deletion ends it.
        return not self.deleted and self.key is not None

    @property
    def owner(self) -> Owner | None:
        if self.owner_id is None:
            return None
        return Owner(self.owner_id, self.owner_team, self.owner_region)

    def as_ref(self) -> CustomerRef | None:
        if not self.exists:
            return None
        return CustomerRef(id=self.id, owner=self.owner, region=self.region,
                           shared_with=self.shared_with, name=self.name,
                           contact_ids=self.contact_ids, shared_teams=self.shared_teams)

    def apply(self, envelope: Mapping[str, Any]) -> Applied:
        """Fold one customer event into the copy."""
        data = envelope["data"]
        before = (self.owner, (self.shared_with, self.shared_teams), self.deleted)
        changed = self._take_contacts(envelope)
        if envelope["type"] in CONTACT_EVENTS:
            if changed:
                self.version += 1
            return Applied(changed=changed, owner_changed=False, shares_changed=False,
                           deleted=False)
        if envelope["type"] == DELETED and not self.deleted:
            self.deleted = changed = True
        key = order_key(envelope, creation=envelope["type"] == CREATED)
        if self.key is None or key > self.key:
            if data["owner_id"] != self.owner_id or self.key is None:
                self.owner_cause = envelope["type"]
                self.owner_actor_id = envelope.get("actor_id")
            self.owner_id = data["owner_id"]
            self.owner_team, self.owner_region = data["owner_team"], data["owner_region"]
            self.name, self.region = data["name"], data["region"]
            self.shared_with = tuple(sorted(set(data["shared_with"])))
            self.shared_teams = tuple(sorted(set(data.get("shared_teams") or ())))
            # Written even when only the key moved on: a newer event restating the same
            # owner must still outrank an older one that arrives after it.
            self.key = key
            changed = True
        if changed:
            self.version += 1
        return Applied(changed=changed, owner_changed=before[0] != self.owner,
                       shares_changed=before[1] != (self.shared_with, self.shared_teams),
                       deleted=self.deleted and not before[2])

    def _take_contacts(self, envelope: Mapping[str, Any]) -> bool:
        """Keep the newest list of contact ids an event states (if it states one)."""
        ids = envelope["data"].get("contact_ids")
        if ids is None:
            return False
        key = order_key(envelope, creation=envelope["type"] == CREATED)
        if self.contacts_key is not None and key <= self.contacts_key:
            return False
        self.contact_ids, self.contacts_key = tuple(sorted(set(ids))), key
        return True

    # ---- persistence (plain dicts; the repository stores them as they are)

    def to_doc(self) -> dict:
        return {
            "_id": self.id, "deleted": self.deleted, "exists": self.exists,
            "name": self.name, "region": self.region, "owner_id": self.owner_id,
            "owner_team": self.owner_team, "owner_region": self.owner_region,
            "owner_cause": self.owner_cause, "owner_actor_id": self.owner_actor_id,
            "shared_with": list(self.shared_with), "shared_teams": list(self.shared_teams),
            "key": self.key, "version": self.version,
            "contact_ids": None if self.contact_ids is None else list(self.contact_ids),
            "contacts_key": self.contacts_key,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "CustomerView":
        return cls(
            id=doc["_id"], deleted=doc.get("deleted", False), name=doc.get("name"),
            region=doc.get("region"), owner_id=doc.get("owner_id"),
            owner_team=doc.get("owner_team"), owner_region=doc.get("owner_region"),
            owner_cause=doc.get("owner_cause"), owner_actor_id=doc.get("owner_actor_id"),
            shared_with=tuple(doc.get("shared_with") or ()),
            shared_teams=tuple(doc.get("shared_teams") or ()),
            key=doc.get("key") or _key_of_stamps(doc), version=doc.get("version", 0),
            contact_ids=None if doc.get("contact_ids") is None else tuple(doc["contact_ids"]),
            contacts_key=doc.get("contacts_key"),
        )


def _key_of_stamps(doc: Mapping[str, Any]) -> str | None:
    # Copies stored before order keys kept stamps {version, at, event_id} per part: the
    # newest becomes their key, so they stay known and older events stay ignored.
    stamps = [s for s in (doc.get("owner_stamp"), doc.get("profile_stamp")) if s]
    return max((order_key({"data": {"version": s.get("version")}, "occurred_at": s.get("at"),
                           "id": s.get("event_id")}) for s in stamps), default=None)


def apply_event(view: CustomerView | None,
                envelope: Mapping[str, Any]) -> tuple[CustomerView, Applied]:
    """Fold one customer event into the customer's copy (a new copy if none)."""
    view = view if view is not None else CustomerView(id=envelope["data"]["customer_id"])
    return view, view.apply(envelope)
