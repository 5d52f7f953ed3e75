"""A customer as its MongoDB document, and back (the repositories' mapping).

The document holds every field of the aggregate plus what queries need (search terms,
the normalised name and its pinyin, the deal amount in cents); the change log, the
follow-ups and the outbox are written beside it by the repository. `version` is stored
as the aggregate has it: the domain raises it.
"""
from __future__ import annotations

from datetime import datetime

from crmkit.bus.idempotent import SEEN
from crmkit.clock import as_utc, day_text, parse_day
from crmkit.money import from_cents, to_cents

from services.customer import naming
from services.customer.domain import Customer
from services.customer.entities import Contact, Interaction

TERMS_PENDING = "_terms_pending"
# a digest of the search rows the document stands for (terms_repository.rows_digest):
# a save whose terms hash the same as the stored ones leaves the rows alone
TERMS_DIGEST = "_terms_digest"


def _moment(value):
    return as_utc(value) if isinstance(value, datetime) else value


def contact_doc(contact: Contact) -> dict:
    doc = contact.as_dict()
    doc["birthday"] = day_text(contact.birthday)
    return doc


def contact_from(doc: dict) -> Contact:
    values = dict(doc)
    values["birthday"] = parse_day(values.get("birthday"))
    for key in ("created_at", "updated_at"):
        values[key] = _moment(values.get(key))
    values["relations"] = values.get("relations") or []
    return Contact(**values)


def interaction_doc(interaction: Interaction) -> dict:
    doc = interaction.as_dict()
    doc["next_action_due"] = day_text(interaction.next_action_due)
    return doc


def interaction_from(doc: dict) -> Interaction:
    values = {k: v for k, v in doc.items() if k != "_id"}
    values["next_action_due"] = parse_day(values.get("next_action_due"))
    for key in ("occurred_at", "created_at", "updated_at"):
        values[key] = _moment(values.get(key))
    values["contact_ids"] = list(values.get("contact_ids") or [])
    values["participants"] = list(values.get("participants") or [])
    return Interaction(**values)


def customer_doc(customer: Customer) -> dict:
    """Every stored field of the aggregate (not the log, follow-ups or outbox)."""
    phones = [p for c in customer.contacts for p in (c.phone, c.mobile) if p]
    return {
        "_id": customer.id, "number": customer.number, "name": customer.name,
        **naming.search_keys(customer.name),
        "search_terms": naming.search_terms(customer.name, customer.number,
                                            [c.name for c in customer.contacts], phones),
        "public_terms": naming.public_search_terms(customer.name, customer.number),
        "industry": customer.industry, "status": customer.status, "level": customer.level,
        "source": customer.source, "source_detail": customer.source_detail,
        "tags": list(customer.tags), "size": customer.size, "address": customer.address,
        "needs": customer.needs, "region": customer.region,
        "owner_id": customer.owner_id, "owner_team": customer.owner_team,
        "owner_region": customer.owner_region, "owner_name": customer.owner_name,
        "owned_since": customer.owned_since, "shared_with": list(customer.shared_with),
        "shared_teams": list(customer.shared_teams),
        "contacts": [contact_doc(c) for c in customer.contacts],
        "primary_contact": customer.primary_contact,
        "deal_amount_cents": to_cents(customer.deal_amount), "currency": customer.currency,
        "last_deal_on": day_text(customer.last_deal_on),
        "last_followup_at": customer.last_followup_at,
        "budget_cents": None if customer.budget is None else to_cents(customer.budget),
        "purchase_time": day_text(customer.purchase_time),
        "first_contact_on": day_text(customer.first_contact_on),
        "created_by": customer.created_by, "created_at": customer.created_at,
        "updated_at": customer.updated_at, "version": customer.version,
        "deleted": customer.deleted, "deleted_at": customer.deleted_at,
        "releases": list(customer.releases),
        "reclaim_warned_for": day_text(customer.reclaim_warned_for),
        # a write of the document leaves its search rows to be brought up to it
        # (terms_repository: the rows are derived, in a second write); the repository
        # takes the flag out where it wrote the rows first or the terms are unchanged
        TERMS_PENDING: True,
    }


def customer_from(doc: dict) -> Customer:
    return Customer(
        id=doc["_id"], number=doc["number"], name=doc["name"], industry=doc["industry"],
        status=doc["status"], created_by=doc["created_by"],
        created_at=as_utc(doc["created_at"]), updated_at=as_utc(doc["updated_at"]),
        level=doc.get("level"), source=doc.get("source"),
        source_detail=doc.get("source_detail"), tags=list(doc.get("tags") or []),
        size=doc.get("size"), address=doc.get("address"), needs=doc.get("needs"),
        region=doc.get("region"), owner_id=doc.get("owner_id"),
        owner_team=doc.get("owner_team"), owner_region=doc.get("owner_region"),
        owner_name=doc.get("owner_name"), owned_since=_moment(doc.get("owned_since")),
        shared_with=list(doc.get("shared_with") or []),
        shared_teams=list(doc.get("shared_teams") or []),
        contacts=[contact_from(c) for c in doc.get("contacts") or []],
        deal_amount=from_cents(doc.get("deal_amount_cents") or 0),
        currency=doc.get("currency") or "CNY",
        last_deal_on=parse_day(doc.get("last_deal_on")),
        last_followup_at=_moment(doc.get("last_followup_at")),
        budget=None if doc.get("budget_cents") is None else from_cents(doc["budget_cents"]),
        purchase_time=parse_day(doc.get("purchase_time")),
        first_contact_on=parse_day(doc.get("first_contact_on")),
        version=doc.get("version", 0), deleted=bool(doc.get("deleted")),
        deleted_at=_moment(doc.get("deleted_at")),
        releases=[{**r, "at": as_utc(r["at"])} for r in doc.get("releases") or []],
        reclaim_warned_for=parse_day(doc.get("reclaim_warned_for")),
        seen_events=list(doc.get(SEEN) or []),
    )
