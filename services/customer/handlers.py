"""Customer use cases: load, apply the rules, save state and events in one write."""
from __future__ import annotations

import uuid

from crmkit.clock import local_date, org_timezone, utcnow
from crmkit.errors import NotFound
from crmkit.events import DomainEvent, to_envelopes
from crmkit.identity import Identity
from crmkit.visibility import Owner, can_see

PRODUCER = "customer"


class CustomerHandlers:
    def __init__(self, repository):
        self.repository = repository

    def create_customer(self, command: dict, actor: Identity) -> dict:
        now = utcnow()
        day = local_date(now, org_timezone()).strftime("%Y%m%d")
        number = f"CRM{day}{self.repository.next_serial(day):04d}"
        owner = None if command.get("in_pool") else actor
        doc = {
            "_id": uuid.uuid4().hex, "number": number, "name": command["name"].strip(),
            "industry": command["industry"], "status": command["status"],
            "primary_contact": command["primary_contact"],
            "owner_id": owner.user_id if owner else None,
            "owner_team": owner.team if owner else None,
            "owner_region": owner.region if owner else None,
            "region": actor.region, "shared_with": [], "created_by": actor.user_id,
            "created_at": now, "updated_at": now, "version": 1,
        }
        event = DomainEvent("customer.created", doc["_id"], region=doc["region"], data={
            "id": doc["_id"], "number": number, "name": doc["name"],
            "industry": doc["industry"], "status": doc["status"],
            "owner_id": doc["owner_id"], "owner_team": doc["owner_team"],
            "region": doc["region"], "created_by": actor.user_id,
            "created_at": now.isoformat()})
        self.repository.add(doc, to_envelopes([event], producer=PRODUCER,
                                              actor_id=actor.user_id))
        return doc

    def get_customer(self, customer_id: str, viewer: Identity) -> dict:
        doc = self.repository.get(customer_id)
        owner = Owner(doc["owner_id"], doc.get("owner_team"), doc.get("owner_region")) if doc else None
        if doc is None or (doc["owner_id"] and not can_see(viewer, owner, doc["shared_with"])):
            raise NotFound("No such customer.", code="not_found")
        return doc
