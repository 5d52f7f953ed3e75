"""Projection of events into the reporting read models (skeleton: customers)."""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions


def subscriptions(repository) -> Subscriptions:
    def project(envelope: dict) -> None:
        repository.keep_event(envelope)
        if envelope["type"] == "customer.created":
            data = envelope["data"]
            repository.upsert_customer(data["id"], {
                "owner_id": data["owner_id"], "owner_team": data.get("owner_team"),
                "owner_region": data["region"] if data["owner_id"] else None,
                "region": data["region"], "status": data["status"]}, envelope["id"])

    return Subscriptions(catch_all=project)
