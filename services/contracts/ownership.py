"""Whose quotes and contracts are: the customer's owner (CONTRACT §3, §9).

The service keeps its own copies, built from events only (the other services are never
called):
- of customers (customer.* events: each carries the customer's snapshot): owner id,
  team, region, sharees (users and teams), name, region; deletion is final;
- of opportunities (opportunity.* events: each carries the opportunity's snapshot):
  which customer it is for, its name and status.
A copy takes the snapshot of an event newer than the one it holds, by the one ordering
rule (`crmkit.bus.ordering.order_key`), and records the event id in the same write
(`crmkit.bus.idempotent.apply_once`, in the repository), so duplicates and late older
events change nothing.

(The opportunity service keeps a richer customer copy of its own — who changed the owner
and why, for its history; this one keeps only what visibility needs.)

Quotes and contracts carry their customer's owner fields (`Owned`), kept in step with
the copy, so that `crmkit.visibility.visibility_filter` lists them in one query.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from crmkit.bus.ordering import order_key
from crmkit.visibility import Owner

CUSTOMER_EVENTS = (
    "customer.created", "customer.updated", "customer.claimed", "customer.returned",
    "customer.recovered", "customer.assigned", "customer.shared", "customer.unshared",
    "customer.deleted",
)
OPPORTUNITY_EVENTS = (
    "opportunity.created", "opportunity.updated", "opportunity.stage_changed",
    "opportunity.won", "opportunity.lost", "opportunity.assigned",
)


@dataclass
class Owned:
    """The customer facts a quote or contract carries (visibility and display)."""
    customer_id: str = ""
    customer_name: str | None = None
    owner_id: str | None = None
    owner_team: str | None = None
    owner_region: str | None = None
    region: str | None = None
    shared_with: list[str] = field(default_factory=list)
    shared_teams: list[str] = field(default_factory=list)   # team paths (CONTRACT §11)

    @property
    def owner(self) -> Owner | None:
        return None if self.owner_id is None else Owner(self.owner_id, self.owner_team,
                                                        self.owner_region)

    def owned_fields(self) -> dict:
        return {"customer_id": self.customer_id, "customer_name": self.customer_name,
                "owner_id": self.owner_id, "owner_team": self.owner_team,
                "owner_region": self.owner_region, "region": self.region,
                "shared_with": list(self.shared_with),
                "shared_teams": list(self.shared_teams)}

    def owned_snapshot(self) -> dict:
        return {"customer_id": self.customer_id, "owner_id": self.owner_id,
                "owner_team": self.owner_team, "owner_region": self.owner_region,
                "region": self.region}


@dataclass
class CustomerCopy(Owned):
    """The copy of one customer. `key`: order key of the event it holds the snapshot of."""
    deleted: bool = False
    key: str | None = None
    version: int = 0      # the copy's own revision, for its conditional write
    events: list = field(default_factory=list, repr=False, compare=False)  # records none

    @property
    def exists(self) -> bool:
        return not self.deleted and self.key is not None

    def apply(self, envelope: Mapping[str, Any]) -> bool:
        """Fold one customer event in; True if the copy changed."""
        data = envelope["data"]
        changed = False
        if envelope["type"] == "customer.deleted" and not self.deleted:
            self.deleted = changed = True
        key = order_key(envelope, creation=envelope["type"] == "customer.created")
        if self.key is None or key > self.key:
            self.customer_name, self.region = data["name"], data["region"]
            self.owner_id, self.owner_team = data["owner_id"], data["owner_team"]
            self.owner_region = data["owner_region"]
            self.shared_with = sorted(set(data["shared_with"]))
            self.shared_teams = sorted(set(data.get("shared_teams") or ()))
            self.key, changed = key, True
        if changed:
            self.version += 1
        return changed

    def as_owned(self) -> Owned:
        return Owned(**self.owned_fields())

    def to_doc(self) -> dict:
        return {"_id": self.customer_id, **self.owned_fields(), "deleted": self.deleted,
                "key": self.key, "version": self.version}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "CustomerCopy":
        return cls(customer_id=doc["_id"], customer_name=doc.get("customer_name"),
                   owner_id=doc.get("owner_id"), owner_team=doc.get("owner_team"),
                   owner_region=doc.get("owner_region"), region=doc.get("region"),
                   shared_with=list(doc.get("shared_with") or []),
                   shared_teams=list(doc.get("shared_teams") or []),
                   deleted=doc.get("deleted", False), key=doc.get("key"),
                   version=doc.get("version", 0))


@dataclass
class OpportunityCopy:
    """The copy of one opportunity: which customer it is for."""
    id: str
    customer_id: str | None = None
    name: str | None = None
    status: str | None = None
    key: str | None = None
    version: int = 0
    events: list = field(default_factory=list, repr=False, compare=False)  # records none

    def apply(self, envelope: Mapping[str, Any]) -> bool:
        data = envelope["data"]
        key = order_key(envelope, creation=envelope["type"] == "opportunity.created")
        if self.key is not None and key <= self.key:
            return False
        self.customer_id, self.name = data["customer_id"], data["name"]
        self.status, self.key = data["status"], key
        self.version += 1
        return True

    def to_doc(self) -> dict:
        return {"_id": self.id, "customer_id": self.customer_id, "name": self.name,
                "status": self.status, "key": self.key, "version": self.version}

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> "OpportunityCopy":
        return cls(id=doc["_id"], customer_id=doc.get("customer_id"), name=doc.get("name"),
                   status=doc.get("status"), key=doc.get("key"),
                   version=doc.get("version", 0))
