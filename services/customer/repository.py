"""The only module of the customer service that talks to MongoDB.

One document per customer holds the aggregate (contacts included), its change log
(`history`), its follow-up records (`interactions`) and its outbox, so a change, its
log entry and its events are ONE write; `version` decides races (conditional update).
Loads leave the log, the follow-ups and the outbox out.

Uniqueness without unique secondary indexes:
- the customer number is the document `_id` (ids are strings; the number is
  unique by construction from the atomic per-day counter and the `_id` proves it);
- a normalised company name is reserved in `customer_names` (`_id` = the name), the
  duplicate check that holds under concurrent creates.
Every query the service runs is served by an index declared in `ensure_indexes`
(tests/integration/customer check each filter against them).
"""
from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from crmkit import nesting
from crmkit.bus.outbox import PENDING, notify_outbox, outbox_fields, with_outbox
from crmkit.clock import day_text, parse_day, as_utc, utcnow
from crmkit.errors import VersionConflict
from crmkit.money import from_cents, to_cents
from crmkit.queries import all_of, count_matching
from crmkit.visibility import team_subtree_filter, visibility_filter

from services.customer import naming
from services.customer.domain import PUBLIC_FIELDS, Contact, Customer, Interaction
from services.customer.reclaim import PoolRules

CUSTOMERS = "customers"
NAMES = "customer_names"
COUNTERS = "counters"
IMPORTS = "customer_imports"
SETTINGS = "pool_settings"
RUNS = "scheduled_runs"
LOCKS = "locks"

INTERNAL = ("_outbox", "_outbox_pending", "_outbox_lease", "_seen_events")
# What a command needs of a customer: everything but the log, follow-ups and outbox.
LOAD = {"history": 0, "interactions": 0, "search_terms": 0, "public_terms": 0,
        **{f: 0 for f in INTERNAL}}
# What a list shows: no cool-down memory or consumed-event ids either.
LIST = {**LOAD, "releases": 0, "applied_events": 0}
NAME_RESERVATION_GRACE = timedelta(seconds=30)

# Sortable list fields -> stored field.
SORTABLE = {"created_at": "created_at", "updated_at": "updated_at", "number": "_id",
            "name": "name", "last_followup_at": "last_followup_at",
            "deal_amount": "deal_amount_cents", "last_deal_on": "last_deal_on",
            "level": "level", "status": "status", "industry": "industry",
            "region": "region", "source": "source"}
# What the pool may sort by: fields of the public view only (deal amount, deal and
# follow-up dates would order customers the caller may not see by private data).
PUBLIC_SORTABLE = {name: stored for name, stored in SORTABLE.items() if name in PUBLIC_FIELDS}
# Customers stored before `public_terms` existed get it once per database (start-up).
PUBLIC_TERMS_FILLED = "migration:public_terms"

# Declared indexes: every filter and sort of the service is served by one of these. A
# sort field's index ends with _id, the tie-breaker every list sorts by last
# (`handlers._sort`): customers imported together share one created_at, and an index
# without it left the database sorting each group of ties in full for every page.
SORT_KEYS = ("status", "level", "industry", "source", "region", "created_at", "updated_at",
             "last_followup_at", "last_deal_on", "deal_amount_cents", "name")
DIRECTION = {"created_at": -1, "updated_at": -1, "deal_amount_cents": -1}
# Indexes data folders made before may still have: dropped at start.
RETIRED_INDEXES = ("deleted_1_owner_id_1",   # led by a flag nearly every customer shares
                   *(f"{key}_{DIRECTION.get(key, 1)}" for key in SORT_KEYS))
CUSTOMER_INDEXES = (
    [("owner_id", 1), ("created_at", -1)],
    [("shared_with", 1)],
    [("owner_team", 1)],
    [("owner_region", 1)],
    [("search_terms", 1)],
    [("public_terms", 1)],
    [("name_normalized", 1)],
    [("name_pinyin", 1)],
    [("tags", 1)],
    [("import_chunk", 1)],
    *([(key, DIRECTION.get(key, 1)), ("_id", DIRECTION.get(key, 1))] for key in SORT_KEYS),
)


# --------------------------------------------------------------------------- mapping

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
        "contacts": [contact_doc(c) for c in customer.contacts],
        "primary_contact": customer.primary_contact,
        "deal_amount_cents": to_cents(customer.deal_amount), "currency": customer.currency,
        "last_deal_on": day_text(customer.last_deal_on),
        "last_followup_at": customer.last_followup_at,
        "created_by": customer.created_by, "created_at": customer.created_at,
        "updated_at": customer.updated_at, "version": customer.version,
        "deleted": customer.deleted, "deleted_at": customer.deleted_at,
        "releases": list(customer.releases),
        "reclaim_warned_for": day_text(customer.reclaim_warned_for),
        "applied_events": list(customer.applied_events),
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
        contacts=[contact_from(c) for c in doc.get("contacts") or []],
        deal_amount=from_cents(doc.get("deal_amount_cents") or 0),
        currency=doc.get("currency") or "CNY",
        last_deal_on=parse_day(doc.get("last_deal_on")),
        last_followup_at=_moment(doc.get("last_followup_at")),
        version=doc.get("version", 0), deleted=bool(doc.get("deleted")),
        deleted_at=_moment(doc.get("deleted_at")),
        releases=[{**r, "at": as_utc(r["at"])} for r in doc.get("releases") or []],
        reclaim_warned_for=parse_day(doc.get("reclaim_warned_for")),
        applied_events=list(doc.get("applied_events") or []),
    )


# --------------------------------------------------------------------------- filters

def _local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def customer_filter(*, tz: ZoneInfo, visible: dict | None = None, q=None, status=None,
                    level=None, industry=None, tag=None, source=None, owner_id=None,
                    region=None, created_from=None, created_to=None, no_followup_since=None,
                    claimed=None, **_ignored) -> list[dict]:
    """The clauses of the list filters of CONTRACT §4 (dates are organisation-local).
    `visible` (the pool, which lists customers the caller may not see in full): what
    reads a private field (contacts and phones in `q`, the last follow-up) matches only
    customers the caller sees in full; others match `q` on their public terms."""
    clauses: list[dict] = [{"deleted": False}]
    term = naming.query_term(q)
    if term:
        private = {"search_terms": {"$regex": "^" + re.escape(term)}}
        clauses.append(private if visible is None else {"$or": [
            {"public_terms": {"$regex": "^" + re.escape(term)}}, all_of([visible, private])]})
    if claimed is True:
        clauses.append({"owner_id": {"$ne": None}})
    elif claimed is False:
        clauses.append({"owner_id": None})
    for field, value in (("status", status), ("level", level), ("industry", industry),
                         ("source", source), ("owner_id", owner_id), ("region", region)):
        if value is not None:
            clauses.append({field: value})
    if tag:
        clauses.append({"tags": {"$all": list(tag)}})
    if created_from:
        clauses.append({"created_at": {"$gte": _local_start(created_from, tz)}})
    if created_to:
        clauses.append({"created_at": {"$lt": _local_start(created_to + timedelta(days=1), tz)}})
    if no_followup_since:
        stale = {"$or": [{"last_followup_at": None}, {"last_followup_at": {
            "$lt": _local_start(no_followup_since, tz)}}]}
        clauses.append(stale if visible is None else all_of([visible, stale]))
    return clauses


def scope_filter(viewer, scope: str) -> dict:
    """mine | shared | team (what the caller sees by rank) | all (everything visible)."""
    if scope == "mine":
        return {"owner_id": viewer.user_id}
    if scope == "shared":
        return {"shared_with": viewer.user_id}
    if scope == "team":
        if viewer.role == "admin":
            return {"owner_id": {"$ne": None}}
        if viewer.role == "manager" and viewer.region:
            return {"owner_region": viewer.region}
        if viewer.role == "supervisor" and viewer.team:
            return team_subtree_filter(viewer.team)
        return {"owner_id": viewer.user_id}
    return visibility_filter(viewer)


combine = all_of


# --------------------------------------------------------------------------- repository

class CustomerRepository:
    outbox_collections = [CUSTOMERS, IMPORTS]

    def __init__(self, db):
        self.db = db
        self.customers = db[CUSTOMERS]
        self.names = db[NAMES]
        self.counters = db[COUNTERS]
        self.imports = db[IMPORTS]
        self.settings = db[SETTINGS]
        self.runs = db[RUNS]
        self.locks = db[LOCKS]

    def ensure_indexes(self) -> None:
        for keys in CUSTOMER_INDEXES:
            self.customers.create_index(keys)
        self.fill_public_terms()
        present = self.customers.index_information()
        for name in RETIRED_INDEXES:
            if name in present:
                try:
                    self.customers.drop_index(name)
                except OperationFailure:   # the service's other process dropped it first
                    pass
        self.names.create_index("customer_id")
        self.imports.create_index([("state", 1), ("created_at", 1)])

    def fill_public_terms(self, batch: int = 500) -> int:
        """Give customers stored before `public_terms` existed their public search terms
        (once per database; later writes keep them). Not a change of the customer: its
        version stays. A concurrent save writes the terms itself, and the filter then
        leaves that document alone. Returns how many were filled."""
        if self.run_done(PUBLIC_TERMS_FILLED):
            return 0
        filled, last = 0, None
        missing = {"public_terms": {"$exists": False}}
        while True:
            filter_ = missing if last is None else {**missing, "_id": {"$gt": last}}
            docs = list(self.customers.find(filter_, {"_id": 1, "name": 1, "number": 1})
                        .sort([("_id", 1)]).limit(batch))
            for doc in docs:
                terms = naming.public_search_terms(doc.get("name") or "", doc.get("number"))
                filled += self.customers.update_one(
                    {"_id": doc["_id"], **missing},
                    {"$set": {"public_terms": terms}}).modified_count
            if len(docs) < batch:
                break
            last = docs[-1]["_id"]
        self.mark_run(PUBLIC_TERMS_FILLED, filled=filled)
        return filled

    def declared_indexes(self) -> list[list[tuple[str, int]]]:
        return [list(keys) for keys in CUSTOMER_INDEXES]

    # ---- numbers and names

    def next_serials(self, day_key: str, count: int = 1) -> int:
        """Reserve `count` serials of the day atomically; returns the first of them."""
        doc = self.counters.find_one_and_update(
            {"_id": f"customer-number:{day_key}"}, {"$inc": {"seq": count}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["seq"] - count + 1

    def reserve_name(self, normalized: str, customer_id: str, now: datetime | None = None
                     ) -> str | None:
        """Reserve a normalised name for `customer_id`; returns the id of the customer
        already holding it, or None when reserved. A reservation whose customer was
        never written (a crash between the two writes) is taken over after a grace time."""
        now = now or utcnow()
        try:
            self.names.insert_one({"_id": normalized, "customer_id": customer_id, "at": now})
            return None
        except DuplicateKeyError:
            pass
        entry = self.names.find_one({"_id": normalized})
        if entry is None:  # released meanwhile: try once more
            return self.reserve_name(normalized, customer_id, now) if normalized else None
        holder = entry["customer_id"]
        if holder == customer_id:
            return None
        alive = self.customers.find_one(
            {"_id": holder, "deleted": False, "name_normalized": normalized}, {"_id": 1})
        if alive or as_utc(entry["at"]) > now - NAME_RESERVATION_GRACE:
            return holder
        taken = self.names.update_one(
            {"_id": normalized, "customer_id": holder},
            {"$set": {"customer_id": customer_id, "at": now}})
        return None if taken.matched_count else holder

    def release_name(self, normalized: str, customer_id: str) -> None:
        self.names.delete_one({"_id": normalized, "customer_id": customer_id})

    def name_holders(self, normalized_names) -> dict[str, str]:
        """normalised name -> holding customer id, for names in use by live customers."""
        names = list(set(normalized_names))
        held = {d["_id"]: d["customer_id"] for d in self.names.find({"_id": {"$in": names}})}
        if not held:
            return {}
        alive = {d["_id"] for d in self.customers.find(
            {"_id": {"$in": list(held.values())}, "deleted": False}, {"_id": 1})}
        return {name: cid for name, cid in held.items() if cid in alive}

    # ---- the aggregate

    def get(self, customer_id: str) -> Customer | None:
        doc = self.customers.find_one({"_id": customer_id}, LOAD)
        return customer_from(doc) if doc else None

    def insert(self, customer: Customer, envelopes: list[dict]) -> None:
        customer.version = 1
        doc = {**customer_doc(customer), "history": nesting.encode(list(customer.log)),
               "interactions": [],
               **outbox_fields(envelopes)}
        self.customers.insert_one(doc)
        customer.events.clear()
        customer.log.clear()
        notify_outbox(CUSTOMERS, [customer.id])

    def save(self, customer: Customer, envelopes: list[dict]) -> None:
        """Write the changed aggregate, its log entries, follow-ups and events at once,
        if nobody changed it since it was loaded (else VersionConflict)."""
        fields = customer_doc(customer)
        for key in ("_id", "number", "created_by", "created_at", "version"):
            fields.pop(key)
        update: dict = {"$set": fields, "$inc": {"version": 1}}
        push = {}
        if customer.log:
            push["history"] = {"$each": nesting.encode(list(customer.log))}
        if customer.new_interactions:
            push["interactions"] = {"$each": [interaction_doc(i)
                                              for i in customer.new_interactions]}
        if push:
            update["$push"] = push
        result = self.customers.update_one({"_id": customer.id, "version": customer.version},
                                           with_outbox(update, envelopes))
        if not result.matched_count:
            raise VersionConflict(f"customer {customer.id} changed meanwhile")
        customer.version += 1
        customer.events.clear()
        customer.log.clear()
        customer.new_interactions.clear()
        if envelopes:
            notify_outbox(CUSTOMERS, [customer.id])

    def history(self, customer_id: str) -> list[dict]:
        doc = self.customers.find_one({"_id": customer_id}, {"history": 1})
        return nesting.decode(list((doc or {}).get("history") or []))

    def interactions(self, customer_id: str) -> list[dict]:
        doc = self.customers.find_one({"_id": customer_id}, {"interactions": 1})
        return list((doc or {}).get("interactions") or [])

    def owned_count(self, user_id: str) -> int:
        return count_matching(self.customers, {"owner_id": user_id, "deleted": False})

    # ---- queries

    def find(self, filter_: dict, *, sort, page: int, per_page: int) -> tuple[list[dict], int]:
        """One page of a list: the page's ids first (a query the index covers: sort keys
        and ids only), then those documents; big documents are read only for the page."""
        total = count_matching(self.customers, filter_)
        keys = {field: 1 for field, _ in sort}
        cursor = self.customers.find(filter_, keys).sort(sort).skip((page - 1) * per_page)
        ids = [d["_id"] for d in cursor.limit(per_page)]
        if not ids:
            return [], total
        docs = {d["_id"]: d for d in self.customers.find({"_id": {"$in": ids}}, LIST)}
        return [docs[i] for i in ids if i in docs], total

    def find_all(self, filter_: dict, *, sort, limit: int) -> list[dict]:
        return list(self.customers.find(filter_, LIST).sort(sort).limit(limit))

    def find_by_ids(self, ids) -> list[dict]:
        return list(self.customers.find({"_id": {"$in": list(ids)}, "deleted": False}, LIST))

    def duplicate_candidates(self, name: str, *, limit: int = 200) -> list[dict]:
        """Customers that may be the company `name`: equal or contained normalised
        names, names containing it, equal pinyin; the domain ranks them."""
        normalized = naming.normalize_name(name)
        term = naming.query_term(normalized or name)
        parts = {normalized[i:j] for i in range(len(normalized))
                 for j in range(i + 2, len(normalized) + 1)} if normalized else set()
        clauses = [{"name_normalized": {"$in": sorted(parts)}}] if parts else []
        if term:
            clauses.append({"search_terms": {"$regex": "^" + re.escape(term)}})
        if normalized:
            clauses.append({"name_pinyin": naming.pinyin_full(normalized)})
        if not clauses:
            return []
        return list(self.customers.find({"deleted": False, "$or": clauses}, {
            "_id": 1, "number": 1, "name": 1, "owner_id": 1, "owner_name": 1})
            .sort([("created_at", -1)]).limit(limit))

    def owned_customers(self, batch: int = 500):
        """Every claimed live customer (for auto-reclaim), in id order, in batches."""
        last = None
        while True:
            filter_ = {"owner_id": {"$ne": None}, "deleted": False}
            if last is not None:
                filter_["_id"] = {"$gt": last}
            docs = list(self.customers.find(filter_, LOAD).sort([("_id", 1)]).limit(batch))
            if not docs:
                return
            for doc in docs:
                yield customer_from(doc)
            last = docs[-1]["_id"]

    def customers_owned_by(self, owner_id: str, limit: int = 5000) -> list:
        """One owner's live customers (the reclaim outlook of the workbench)."""
        docs = self.customers.find({"owner_id": owner_id, "deleted": False}, LOAD)
        return [customer_from(doc) for doc in docs.sort([("_id", 1)]).limit(limit)]

    def update_owner_profile(self, user_id: str, *, team, region, name) -> int:
        """A user moved team/region or was renamed: their customers follow (the
        denormalised owner fields of the visibility filter)."""
        result = self.customers.update_many(
            {"owner_id": user_id, "$or": [{"owner_team": {"$ne": team}},
                                          {"owner_region": {"$ne": region}},
                                          {"owner_name": {"$ne": name}}]},
            {"$set": {"owner_team": team, "owner_region": region, "owner_name": name},
             "$inc": {"version": 1}})
        return result.modified_count

    # ---- pool rules and scheduled runs

    def get_rules(self) -> tuple[PoolRules, int]:
        doc = self.settings.find_one({"_id": "rules"})
        if not doc:
            return PoolRules(), 0
        return PoolRules.from_dict(doc["rules"]), doc.get("version", 0)

    def put_rules(self, rules: PoolRules, actor_id: str) -> int:
        doc = self.settings.find_one_and_update(
            {"_id": "rules"}, {"$set": {"rules": rules.to_dict(), "updated_by": actor_id,
                                        "updated_at": utcnow()}, "$inc": {"version": 1}},
            upsert=True, return_document=ReturnDocument.AFTER)
        return doc["version"]

    def run_done(self, key: str) -> bool:
        return self.runs.find_one({"_id": key}) is not None

    def mark_run(self, key: str, **fields) -> None:
        try:
            self.runs.insert_one({"_id": key, "at": utcnow(), **fields})
        except DuplicateKeyError:
            pass

    # ---- import chunks (a batch's events in one outbox document)

    def insert_import_chunk(self, chunk_id: str, import_id: str, customers: list[Customer],
                            envelopes: list[dict], now: datetime) -> None:
        """Write a chunk of imported customers with their events held in one document:
        1) the chunk with its events, not yet pending; 2) the customers; 3) the events
        released to the relay. A crash between the steps is finished by
        `recover_import_chunks` (events only for customers that exist)."""
        self.imports.insert_one({"_id": chunk_id, "import_id": import_id, "state": "writing",
                                 "created_at": now, "customer_ids": [c.id for c in customers],
                                 **outbox_fields(envelopes), PENDING: False})
        docs = []
        for customer in customers:
            customer.version = 1
            docs.append({**customer_doc(customer), "history": nesting.encode(list(customer.log)),
                         "interactions": [], "import_chunk": chunk_id})
        if docs:
            self.customers.insert_many(docs, ordered=False)
        self.imports.update_one({"_id": chunk_id}, {"$set": {
            "state": "written", PENDING: bool(envelopes)}})
        for customer in customers:
            customer.events.clear()
            customer.log.clear()
        notify_outbox(IMPORTS, [chunk_id])

    def recover_import_chunks(self, older_than: datetime) -> int:
        recovered = 0
        for chunk in self.imports.find({"state": "writing", "created_at": {"$lt": older_than}}):
            existing = set(self.customers.distinct("_id", {"import_chunk": chunk["_id"]}))
            kept = [e for e in nesting.decode(chunk.get("_outbox") or [])
                    if e["aggregate_id"] in existing]
            self.imports.update_one({"_id": chunk["_id"], "state": "writing"}, {"$set": {
                "state": "written", **outbox_fields(kept)}})
            recovered += 1
        if recovered:
            notify_outbox(IMPORTS)
        return recovered

