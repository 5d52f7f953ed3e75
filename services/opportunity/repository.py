"""The only module of the opportunity service that talks to MongoDB.

Collections (all in the service's own database):
  opportunities   the aggregates, with their outbox (`_outbox`), history, plans, reminders
  pipeline        one document: the stage pipeline, with its outbox (pipeline.updated)
  customer_views  the copy of customers built from customer events (customers.py)
  users           the user directory copy (crmkit.directory.UserDirectory)

Money is stored as integer cents (`amount_cents`, `won.amount_cents`) so that sums done
by the database are exact; dates as "YYYY-MM-DD" strings (they sort and compare as
dates); moments as UTC datetimes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from pymongo.errors import DuplicateKeyError

from crmkit.bus.idempotent import apply_once
from crmkit.bus.outbox import notify_outbox, outbox_fields, with_outbox
from crmkit.clock import day_text, parse_day, as_utc
from crmkit.errors import VersionConflict
from crmkit.identity import Identity
from crmkit.money import from_cents, to_cents
from crmkit.pagination import paginate, sort_spec
from crmkit.queries import all_of, count_matching
from crmkit.visibility import shared_clauses, team_subtree_filter, visibility_filter

from events.opportunity import OPEN
from services.opportunity.customers import CustomerView
from services.opportunity.opportunity import Opportunity
from services.opportunity.pipeline import PIPELINE_ID, Pipeline

OPPORTUNITIES = "opportunities"
PIPELINE = "pipeline"
CUSTOMER_VIEWS = "customer_views"

# Fields kept in step with the customer by `sync_customer_fields` (not by saves of the
# aggregate, which would otherwise write back a stale copy).
CUSTOMER_FIELDS = ("shared_with", "shared_teams", "customer_name", "region")

# the list's `sort` values and the stored field each sorts by
SORTABLE = {"created_at": "created_at", "updated_at": "updated_at",
            "amount": "amount_cents", "expected_close_date": "expected_close_date",
            "name": "name", "probability": "probability",
            "stage_changed_at": "stage_changed_at", "stage": "stage"}
DEFAULT_SORT = "-created_at"

INDEXES = [
    # visibility (one clause each) + the default sort
    [("owner_id", 1), ("created_at", -1)],
    [("owner_team", 1), ("created_at", -1)],
    [("owner_region", 1), ("created_at", -1)],
    [("shared_with", 1), ("created_at", -1)],
    [("shared_teams", 1), ("created_at", -1)],
    [("owner_id", 1), ("region", 1)],
    # filters
    [("customer_id", 1), ("status", 1)],
    [("status", 1), ("stage", 1)],
    [("stage", 1), ("created_at", -1)],
    [("expected_close_date", 1)],
    # sorts
    [("created_at", -1)], [("updated_at", -1)], [("amount_cents", -1)],
    [("stage_changed_at", -1)], [("probability", -1)], [("name", 1)],
]


# --------------------------------------------------------------------------- mapping

def _moment(value):
    return as_utc(value) if value is not None else None


def to_doc(opp: Opportunity) -> dict:
    return {
        "_id": opp.id, "name": opp.name, "customer_id": opp.customer_id,
        "customer_name": opp.customer_name, "contact_id": opp.contact_id,
        "product": opp.product, "amount_cents": to_cents(opp.amount),
        "currency": opp.currency, "expected_close_date": day_text(opp.expected_close_date),
        "stage": opp.stage, "probability": opp.probability,
        "probability_manual": opp.probability_manual, "status": opp.status,
        "competitors": list(opp.competitors), "strengths": opp.strengths,
        "weaknesses": opp.weaknesses, "key_factors": opp.key_factors, "risks": opp.risks,
        "next_action": opp.next_action, "next_action_due": day_text(opp.next_action_due),
        "description": opp.description, "owner_id": opp.owner_id,
        "owner_team": opp.owner_team, "owner_region": opp.owner_region,
        "region": opp.region, "shared_with": list(opp.shared_with),
        "shared_teams": list(opp.shared_teams),
        "won": None if opp.won is None else {
            "amount_cents": to_cents(opp.won["amount"]),
            "contract_number": opp.won["contract_number"],
            "signed_on": day_text(opp.won["signed_on"])},
        "lost": None if opp.lost is None else dict(opp.lost),
        "closed_at": opp.closed_at, "stage_changed_at": opp.stage_changed_at,
        "created_by": opp.created_by, "created_at": opp.created_at,
        "updated_at": opp.updated_at, "history": list(opp.history),
        "followup_plans": list(opp.followup_plans), "reminders": list(opp.reminders),
        "version": opp.version,
    }


def from_doc(doc: dict) -> Opportunity:
    won = doc.get("won")
    return Opportunity(
        id=doc["_id"], name=doc["name"], customer_id=doc["customer_id"],
        customer_name=doc.get("customer_name"), contact_id=doc.get("contact_id"),
        product=doc.get("product"), amount=from_cents(doc["amount_cents"]),
        currency=doc.get("currency", "CNY"),
        expected_close_date=parse_day(doc["expected_close_date"]),
        stage=doc["stage"], probability=doc["probability"],
        probability_manual=doc.get("probability_manual", False), status=doc["status"],
        competitors=list(doc.get("competitors") or []), strengths=doc.get("strengths"),
        weaknesses=doc.get("weaknesses"), key_factors=doc.get("key_factors"),
        risks=doc.get("risks"), next_action=doc.get("next_action"),
        next_action_due=parse_day(doc.get("next_action_due")),
        description=doc.get("description"), owner_id=doc.get("owner_id"),
        owner_team=doc.get("owner_team"), owner_region=doc.get("owner_region"),
        region=doc.get("region"), shared_with=list(doc.get("shared_with") or []),
        shared_teams=list(doc.get("shared_teams") or []),
        won=None if won is None else {
            "amount": from_cents(won["amount_cents"]),
            "contract_number": won["contract_number"],
            "signed_on": parse_day(won["signed_on"])},
        lost=doc.get("lost"), closed_at=_moment(doc.get("closed_at")),
        stage_changed_at=_moment(doc["stage_changed_at"]), created_by=doc["created_by"],
        created_at=_moment(doc["created_at"]), updated_at=_moment(doc["updated_at"]),
        history=[{**h, "at": _moment(h["at"])} for h in doc.get("history") or []],
        # plans and reminders stored before they carried their opportunity's id get it
        followup_plans=[{"opportunity_id": doc["_id"], **p}
                        for p in doc.get("followup_plans") or []],
        reminders=[{"opportunity_id": doc["_id"], **r} for r in doc.get("reminders") or []],
        version=doc["version"],
    )


# --------------------------------------------------------------------------- queries

def read_filter(viewer: Identity) -> dict:
    """Mongo filter of the opportunities `domain.can_read` admits for this viewer."""
    if viewer.is_admin:
        return {}
    clauses = list(visibility_filter(viewer, shared_teams_field="shared_teams")["$or"])
    if viewer.at_least("supervisor"):
        # unowned (customer in the pool): supervisors and up of the same region
        clauses.append({"owner_id": None, "region": viewer.region})
        clauses.append({"owner_id": None, "region": None})
    return {"$or": clauses}


def scope_filter(viewer: Identity, scope: str) -> dict:
    if scope == "mine":
        return {"owner_id": viewer.user_id}
    if scope == "shared":
        return {"$or": shared_clauses(viewer, "shared_with", "shared_teams")}
    if scope == "team":
        if viewer.role in ("manager", "admin"):
            return {"owner_region": viewer.region} if viewer.role == "manager" else {}
        return team_subtree_filter(viewer.team or "")
    return {}


def list_filter(viewer: Identity, query: dict) -> dict:
    clauses = [read_filter(viewer), scope_filter(viewer, query.get("scope", "all"))]
    for name in ("stage", "status", "customer_id"):
        if query.get(name):
            clauses.append({name: query[name]})
    owner = query.get("owner_id")
    if owner:
        clauses.append({"owner_id": None if owner in ("none", "null") else owner})
    close = {}
    if query.get("close_from"):
        close["$gte"] = query["close_from"].isoformat()
    if query.get("close_to"):
        close["$lte"] = query["close_to"].isoformat()
    if close:
        clauses.append({"expected_close_date": close})
    if query.get("q"):
        pattern = {"$regex": re.escape(query["q"].strip()), "$options": "i"}
        clauses.append({"$or": [{"name": pattern}, {"customer_name": pattern},
                                {"product": pattern}]})
    return all_of(clauses)


# --------------------------------------------------------------------------- repository

@dataclass
class OpportunityPage:
    """One page of a list, with the exact sums of `amount` over every match (all
    pages), per currency."""
    items: list[Opportunity]
    total: int
    page: int
    per_page: int
    amount_totals: dict[str, Decimal] = field(default_factory=dict)


class OpportunityRepository:
    outbox_collections = [OPPORTUNITIES, PIPELINE]

    def __init__(self, db):
        self.db = db
        self.opportunities = db[OPPORTUNITIES]
        self.pipelines = db[PIPELINE]
        self.customer_views = db[CUSTOMER_VIEWS]

    def ensure_indexes(self) -> None:
        for keys in INDEXES:
            self.opportunities.create_index(keys)
        self.customer_views.create_index("owner_id")

    # ---- opportunities

    def add(self, opp: Opportunity, envelopes: list[dict]) -> None:
        self.opportunities.insert_one({**to_doc(opp), **outbox_fields(envelopes)})
        notify_outbox(OPPORTUNITIES, [opp.id])

    def save(self, opp: Opportunity, expected_version: int, envelopes: list[dict]) -> None:
        """Write the aggregate and its events in one conditional update.

        `opp` was loaded by `get(..., history=False)`, without its history: the lines it holds
        are the new ones, appended (the history only ever grows).
        """
        fields = to_doc(opp)
        fields.pop("_id")
        for name in CUSTOMER_FIELDS + ("history",):
            fields.pop(name)
        update = {"$set": fields}
        if opp.history:
            update["$push"] = {"history": {"$each": list(opp.history)}}
        result = self.opportunities.update_one(
            {"_id": opp.id, "version": expected_version}, with_outbox(update, envelopes))
        if result.matched_count == 0:
            raise VersionConflict("The opportunity changed meanwhile; try again.",
                                  code="version_conflict")
        if envelopes:
            notify_outbox(OPPORTUNITIES, [opp.id])

    def get(self, opportunity_id: str, *, history: bool = True) -> Opportunity | None:
        """The aggregate; without its (append-only) history to change and `save` it."""
        projection = {"_outbox": 0, "_outbox_lease": 0}
        if not history:
            projection["history"] = 0
        doc = self.opportunities.find_one({"_id": opportunity_id}, projection)
        return from_doc(doc) if doc else None

    def list(self, viewer: Identity, query: dict) -> OpportunityPage:
        """The page `query` asks for (its filters, `sort`, `page`, `per_page`) of what
        the viewer may see."""
        field_, direction = sort_spec(query.get("sort"), SORTABLE, DEFAULT_SORT)[0]
        filter_ = list_filter(viewer, query)
        docs, total = paginate(self.opportunities, filter_,
                               sort=[(SORTABLE[field_], direction), ("_id", direction)],
                               page=query["page"], per_page=query["per_page"],
                               projection={"_outbox": 0, "history": 0})
        return OpportunityPage([from_doc(d) for d in docs], total, query["page"],
                               query["per_page"], self.amount_totals(filter_))

    def amount_totals(self, filter_: dict) -> dict[str, Decimal]:
        """Exact sums by currency (integer cents added by the database)."""
        rows = self.opportunities.aggregate([
            {"$match": filter_},
            {"$group": {"_id": "$currency", "cents": {"$sum": "$amount_cents"}}}])
        return dict(sorted((row["_id"] or "CNY", from_cents(row["cents"])) for row in rows))

    def open_of_customer(self, customer_id: str) -> list[Opportunity]:
        docs = self.opportunities.find({"customer_id": customer_id, "status": OPEN},
                                       {"_outbox": 0, "history": 0})
        return [from_doc(d) for d in docs]

    def open_counts(self, stages) -> dict[str, int]:
        return {key: count_matching(self.opportunities, {"status": OPEN, "stage": key})
                for key in stages}

    def following_stage(self, stage: str, probability: int) -> list[str]:
        """Ids of open opportunities in `stage` that follow the stage's probability but
        do not have it (yet)."""
        return [d["_id"] for d in self.opportunities.find(
            {"status": OPEN, "stage": stage, "probability_manual": False,
             "probability": {"$ne": probability}}, {"_id": 1})]

    def sync_customer_fields(self, customer_id: str, fields: dict) -> int:
        """Denormalised customer facts (sharees, name, region) on all its opportunities."""
        if not fields:
            return 0
        return self.opportunities.update_many({"customer_id": customer_id},
                                              {"$set": fields}).modified_count

    def sync_owner_profile(self, user_id: str, team: str | None, region: str | None) -> None:
        self.opportunities.update_many({"owner_id": user_id},
                                       {"$set": {"owner_team": team, "owner_region": region}})
        self.customer_views.update_many({"owner_id": user_id},
                                        {"$set": {"owner_team": team, "owner_region": region}})

    # ---- pipeline

    def pipeline(self) -> Pipeline:
        doc = self.pipelines.find_one({"_id": PIPELINE_ID}, {"stages": 1, "version": 1})
        return Pipeline.from_dict(doc) if doc else Pipeline.default()

    def save_pipeline(self, pipeline: Pipeline, expected_version: int,
                      envelopes: list[dict]) -> None:
        doc = pipeline.to_dict()
        fields = {"stages": doc["stages"], "version": pipeline.version}
        try:
            # the default pipeline (version 1) is not stored until first edited
            result = self.pipelines.update_one(
                {"_id": PIPELINE_ID, "version": expected_version},
                with_outbox({"$set": fields}, envelopes), upsert=expected_version == 1)
        except DuplicateKeyError:
            raise VersionConflict("The pipeline changed meanwhile; reload it.",
                                  code="version_conflict") from None
        if result.matched_count == 0 and result.upserted_id is None:
            raise VersionConflict("The pipeline changed meanwhile; reload it.",
                                  code="version_conflict")
        notify_outbox(PIPELINE, [PIPELINE_ID])

    # ---- customer copy

    def customer_view(self, customer_id: str) -> CustomerView | None:
        doc = self.customer_views.find_one({"_id": customer_id})
        return CustomerView.from_doc(doc) if doc else None

    def save_customer_view(self, view: CustomerView, loaded_version: int,
                           event_id: str) -> None:
        """Store the copy as changed by event `event_id`, conditionally on the version
        loaded, recording the event id in the same write (`apply_once`)."""
        fields = {k: v for k, v in view.to_doc().items() if k != "_id"}
        # a copy not stored yet (or stored before it had a version) is created here
        loaded = ({"version": loaded_version} if loaded_version
                  else {"version": {"$exists": False}})
        if not apply_once(self.customer_views, {"_id": view.id, **loaded}, {"$set": fields},
                          event_id, upsert=not loaded_version):
            raise VersionConflict("The customer copy changed meanwhile.")

