"""The only module of the contracts service that talks to MongoDB.

Collections (all in the service's own database):
  quotes            quote aggregates, with their outbox
  contracts         contract aggregates (plan, payments, costs inside), with their outbox
  contract_numbers  `_id` = a contract number: what keeps numbers unique without unique
                    secondary indexes (FerretDB), as the customer service keeps names
  counters          per-day serials of generated quote and contract numbers
  customer_copies   the copy of customers (ownership.CustomerCopy)
  opportunity_copies the copy of opportunities (ownership.OpportunityCopy)
  users             the user directory copy (crmkit.directory.UserDirectory)

Money is stored as integer cents (exact sums), dates as "YYYY-MM-DD" strings.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from crmkit.bus.idempotent import apply_once
from crmkit.bus.outbox import notify_outbox, outbox_fields, with_outbox
from crmkit.clock import as_utc, day_text, parse_day, utcnow
from crmkit.errors import Conflict, VersionConflict
from crmkit.identity import Identity
from crmkit.money import from_cents, to_cents
from crmkit.pagination import paginate, sort_spec
from crmkit.queries import all_of
from crmkit.visibility import team_subtree_filter, visibility_filter

from services.contracts.contract import Contract
from services.contracts.ownership import CustomerCopy, OpportunityCopy
from services.contracts.quote import Quote

QUOTES, CONTRACTS = "quotes", "contracts"
NUMBERS, COUNTERS = "contract_numbers", "counters"
CUSTOMER_COPIES, OPPORTUNITY_COPIES = "customer_copies", "opportunity_copies"
OWNED_FIELDS = ("customer_name", "owner_id", "owner_team", "owner_region", "region",
                "shared_with", "shared_teams")
NUMBER_GRACE = timedelta(seconds=30)
HIDDEN = {"_outbox": 0, "_outbox_lease": 0, "_seen_events": 0}

QUOTE_SORTS = {"created_at": "created_at", "updated_at": "updated_at", "number": "number",
               "total": "total_cents", "status": "status"}
CONTRACT_SORTS = {"created_at": "created_at", "updated_at": "updated_at",
                  "number": "number", "amount": "amount_cents", "signed_on": "signed_on",
                  "status": "status"}
VISIBILITY_INDEXES = [[("owner_id", 1), ("created_at", -1)],
                      [("owner_team", 1), ("created_at", -1)],
                      [("owner_region", 1), ("created_at", -1)],
                      [("shared_with", 1), ("created_at", -1)],
                      [("shared_teams", 1), ("created_at", -1)],
                      [("customer_id", 1), ("created_at", -1)],
                      [("created_at", -1)], [("status", 1)]]


# --------------------------------------------------------------------------- mapping

def _cents_list(items, day_field):
    return [{**{k: v for k, v in item.items() if k != "amount"},
             "amount_cents": to_cents(item["amount"]), day_field: day_text(item[day_field])}
            for item in items]


def _amounts(items, day_field):
    out = []
    for item in items:
        item = dict(item)
        item["amount"] = from_cents(item.pop("amount_cents"))
        item[day_field] = parse_day(item[day_field])
        if isinstance(item.get("recorded_at"), datetime):
            item["recorded_at"] = as_utc(item["recorded_at"])
        out.append(item)
    return out


def _owned(doc: dict) -> dict:
    return {"customer_id": doc["customer_id"], "customer_name": doc.get("customer_name"),
            "owner_id": doc.get("owner_id"), "owner_team": doc.get("owner_team"),
            "owner_region": doc.get("owner_region"), "region": doc.get("region"),
            "shared_with": list(doc.get("shared_with") or []),
            "shared_teams": list(doc.get("shared_teams") or [])}


def quote_doc(q: Quote) -> dict:
    return {"_id": q.id, "number": q.number, "opportunity_id": q.opportunity_id,
            **q.owned_fields(),
            "lines": [{"product": l["product"], "quantity": str(l["quantity"]),
                       "unit_price_cents": to_cents(l["unit_price"]),
                       "discount": str(l["discount"]), "amount_cents": to_cents(l["amount"])}
                      for l in q.lines],
            "total_cents": to_cents(q.total), "currency": q.currency,
            "valid_until": day_text(q.valid_until), "notes": q.notes, "status": q.status,
            "created_by": q.created_by, "created_at": q.created_at,
            "updated_at": q.updated_at, "version": q.version}


def quote_from(doc: dict) -> Quote:
    return Quote(
        id=doc["_id"], number=doc["number"], opportunity_id=doc["opportunity_id"],
        lines=[{"product": l["product"], "quantity": Decimal(l["quantity"]),
                "unit_price": from_cents(l["unit_price_cents"]),
                "discount": Decimal(l["discount"]), "amount": from_cents(l["amount_cents"])}
               for l in doc["lines"]],
        currency=doc.get("currency", "CNY"), valid_until=parse_day(doc.get("valid_until")),
        notes=doc.get("notes"), status=doc["status"], created_by=doc.get("created_by"),
        created_at=as_utc(doc["created_at"]), updated_at=as_utc(doc["updated_at"]),
        version=doc["version"], **_owned(doc))


def contract_doc(c: Contract) -> dict:
    return {"_id": c.id, "number": c.number, "opportunity_id": c.opportunity_id,
            "quote_id": c.quote_id, **c.owned_fields(), "amount_cents": to_cents(c.amount),
            "currency": c.currency, "signed_on": day_text(c.signed_on),
            "starts_on": day_text(c.starts_on), "ends_on": day_text(c.ends_on),
            "notes": c.notes, "status": c.status,
            "plan": _cents_list(c.plan, "due_on"),
            "payments": _cents_list(c.payments, "received_on"),
            "costs": _cents_list(c.costs, "incurred_on"),
            "received_cents": to_cents(c.received), "source": c.source,
            "created_by": c.created_by, "created_at": c.created_at,
            "updated_at": c.updated_at, "version": c.version}


def contract_from(doc: dict) -> Contract:
    return Contract(
        id=doc["_id"], number=doc["number"], opportunity_id=doc.get("opportunity_id"),
        quote_id=doc.get("quote_id"), amount=from_cents(doc["amount_cents"]),
        currency=doc.get("currency", "CNY"), signed_on=parse_day(doc["signed_on"]),
        starts_on=parse_day(doc.get("starts_on")), ends_on=parse_day(doc.get("ends_on")),
        notes=doc.get("notes"), status=doc["status"],
        plan=_amounts(doc.get("plan") or [], "due_on"),
        payments=_amounts(doc.get("payments") or [], "received_on"),
        costs=_amounts(doc.get("costs") or [], "incurred_on"),
        source=doc.get("source", "api"), created_by=doc.get("created_by"),
        created_at=as_utc(doc["created_at"]), updated_at=as_utc(doc["updated_at"]),
        version=doc["version"], **_owned(doc))


# --------------------------------------------------------------------------- filters

def read_filter(viewer: Identity) -> dict:
    """The records `access.can_read` admits for this viewer."""
    if viewer.is_admin:
        return {}
    clauses = list(visibility_filter(viewer, shared_teams_field="shared_teams")["$or"])
    if viewer.at_least("supervisor"):   # customer in the pool: supervisors+ of its region
        clauses.append({"owner_id": None, "region": viewer.region})
        clauses.append({"owner_id": None, "region": None})
    return {"$or": clauses}


def _range(field: str, start, end) -> dict | None:
    bounds = {}
    if start:
        bounds["$gte"] = day_text(start)
    if end:
        bounds["$lte"] = day_text(end)
    return {field: bounds} if bounds else None


def owner_filter(query: dict) -> list[dict]:
    clauses = []
    if query.get("owner_id"):
        clauses.append({"owner_id": query["owner_id"]})
    if query.get("team"):
        clauses.append(team_subtree_filter(query["team"]))
    if query.get("region"):
        clauses.append({"owner_region": query["region"]})
    return clauses


def quote_filter(viewer: Identity, query: dict) -> dict:
    clauses = [read_filter(viewer)]
    for name in ("opportunity_id", "customer_id", "status"):
        if query.get(name):
            clauses.append({name: query[name]})
    return all_of(clauses)


def contract_filter(viewer: Identity, query: dict) -> dict:
    clauses = [read_filter(viewer), *owner_filter(query)]
    for name in ("customer_id", "opportunity_id", "status"):
        if query.get(name):
            clauses.append({name: query[name]})
    signed = _range("signed_on", query.get("signed_from"), query.get("signed_to"))
    if signed:
        clauses.append(signed)
    return all_of(clauses)


# --------------------------------------------------------------------------- repository

class ContractsRepository:
    outbox_collections = [QUOTES, CONTRACTS]

    def __init__(self, db):
        self.db = db
        self.quotes = db[QUOTES]
        self.contracts = db[CONTRACTS]
        self.numbers = db[NUMBERS]
        self.counters = db[COUNTERS]
        self.customers = db[CUSTOMER_COPIES]
        self.opportunities = db[OPPORTUNITY_COPIES]

    def ensure_indexes(self) -> None:
        for keys in VISIBILITY_INDEXES:
            self.quotes.create_index(keys)
            self.contracts.create_index(keys)
        self.quotes.create_index([("opportunity_id", 1)])
        self.contracts.create_index([("number", 1)])
        self.contracts.create_index([("signed_on", -1)])
        self.customers.create_index("owner_id")

    # ---- numbers

    def next_serial(self, kind: str, day_key: str) -> int:
        doc = self.counters.find_one_and_update(
            {"_id": f"{kind}-number:{day_key}"}, {"$inc": {"seq": 1}}, upsert=True,
            return_document=ReturnDocument.AFTER)
        return doc["seq"]

    def reserve_number(self, number: str, contract_id: str, now: datetime | None = None
                       ) -> str | None:
        """Reserve a contract number for `contract_id`: None when reserved (or already
        its own), else the id of the contract holding it. A reservation whose contract
        was never written (a crash between the two writes) is taken over after a grace."""
        now = now or utcnow()
        try:
            self.numbers.insert_one({"_id": number, "contract_id": contract_id, "at": now})
            return None
        except DuplicateKeyError:
            pass
        entry = self.numbers.find_one({"_id": number}) or {}
        holder = entry.get("contract_id")
        if holder in (None, contract_id):
            return None if holder else self.reserve_number(number, contract_id, now)
        if self.contracts.find_one({"_id": holder}, {"_id": 1}) or (
                as_utc(entry["at"]) > now - NUMBER_GRACE):
            return holder
        taken = self.numbers.update_one({"_id": number, "contract_id": holder},
                                        {"$set": {"contract_id": contract_id, "at": now}})
        return None if taken.matched_count else holder

    # ---- quotes

    def add_quote(self, quote: Quote, envelopes: list[dict]) -> None:
        self.quotes.insert_one({**quote_doc(quote), **outbox_fields(envelopes)})
        notify_outbox(QUOTES, [quote.id])

    def save_quote(self, quote: Quote, expected_version: int, envelopes: list[dict]) -> None:
        fields = {k: v for k, v in quote_doc(quote).items()
                  if k != "_id" and k not in OWNED_FIELDS}
        result = self.quotes.update_one({"_id": quote.id, "version": expected_version},
                                        with_outbox({"$set": fields}, envelopes))
        if result.matched_count == 0:
            raise VersionConflict("The quote changed meanwhile.", code="version_conflict")
        notify_outbox(QUOTES, [quote.id])

    def get_quote(self, quote_id: str) -> Quote | None:
        doc = self.quotes.find_one({"_id": quote_id}, HIDDEN)
        return quote_from(doc) if doc else None

    def list_quotes(self, viewer: Identity, query: dict) -> tuple[list[Quote], int]:
        field, direction = sort_spec(query.get("sort"), QUOTE_SORTS, "-created_at")[0]
        docs, total = paginate(self.quotes, quote_filter(viewer, query),
                               sort=[(QUOTE_SORTS[field], direction), ("_id", direction)],
                               page=query["page"], per_page=query["per_page"],
                               projection=HIDDEN)
        return [quote_from(d) for d in docs], total

    # ---- contracts

    def add_contract(self, contract: Contract, envelopes: list[dict]) -> bool:
        """Insert; False if a contract with this id exists already (a replayed create)."""
        try:
            self.contracts.insert_one({**contract_doc(contract), **outbox_fields(envelopes)})
        except DuplicateKeyError:
            return False
        notify_outbox(CONTRACTS, [contract.id])
        return True

    def save_contract(self, contract: Contract, expected_version: int,
                      envelopes: list[dict]) -> None:
        fields = {k: v for k, v in contract_doc(contract).items()
                  if k != "_id" and k not in OWNED_FIELDS}
        result = self.contracts.update_one({"_id": contract.id, "version": expected_version},
                                           with_outbox({"$set": fields}, envelopes))
        if result.matched_count == 0:
            raise VersionConflict("The contract changed meanwhile.", code="version_conflict")
        notify_outbox(CONTRACTS, [contract.id])

    def get_contract(self, contract_id: str) -> Contract | None:
        doc = self.contracts.find_one({"_id": contract_id}, HIDDEN)
        return contract_from(doc) if doc else None

    def contract_by_number(self, number: str) -> Contract | None:
        doc = self.contracts.find_one({"number": number}, HIDDEN)
        return contract_from(doc) if doc else None

    def list_contracts(self, viewer: Identity, query: dict) -> tuple[list[Contract], int]:
        field, direction = sort_spec(query.get("sort"), CONTRACT_SORTS, "-created_at")[0]
        docs, total = paginate(self.contracts, contract_filter(viewer, query),
                               sort=[(CONTRACT_SORTS[field], direction), ("_id", direction)],
                               page=query["page"], per_page=query["per_page"],
                               projection=HIDDEN)
        return [contract_from(d) for d in docs], total

    def visible_contracts(self, viewer: Identity, query: dict, statuses) -> list[Contract]:
        """Every contract the viewer may see matching the report filters (no paging)."""
        filter_ = all_of([contract_filter(viewer, query), {"status": {"$in": list(statuses)}}])
        return [contract_from(d) for d in self.contracts.find(filter_, HIDDEN)
                .sort([("signed_on", 1), ("_id", 1)])]

    # ---- copies

    def customer(self, customer_id: str) -> CustomerCopy | None:
        doc = self.customers.find_one({"_id": customer_id}, {"_seen_events": 0})
        return CustomerCopy.from_doc(doc) if doc else None

    def opportunity(self, opportunity_id: str) -> OpportunityCopy | None:
        doc = self.opportunities.find_one({"_id": opportunity_id}, {"_seen_events": 0})
        return OpportunityCopy.from_doc(doc) if doc else None

    def save_copy(self, kind: str, copy, loaded_version: int, event_id: str) -> None:
        """Store a copy as changed by event `event_id`, conditionally on the version
        loaded, recording the event id in the same write (`apply_once`)."""
        collection = self.customers if kind == "customer" else self.opportunities
        doc = copy.to_doc()
        fields = {k: v for k, v in doc.items() if k != "_id"}
        loaded = {"version": loaded_version} if loaded_version else {
            "version": {"$exists": False}}
        if not apply_once(collection, {"_id": doc["_id"], **loaded}, {"$set": fields},
                          event_id, upsert=not loaded_version):
            raise VersionConflict(f"The {kind} copy changed meanwhile.")

    def sync_customer(self, customer_id: str, owned: dict) -> None:
        """Denormalised customer facts (owner, sharees, name, region) on its records."""
        fields = {name: owned[name] for name in OWNED_FIELDS}
        for collection in (self.quotes, self.contracts):
            collection.update_many({"customer_id": customer_id}, {"$set": fields})

    def sync_owner_profile(self, user_id: str, team: str | None, region: str | None) -> None:
        change = {"$set": {"owner_team": team, "owner_region": region}}
        for collection in (self.quotes, self.contracts, self.customers):
            collection.update_many({"owner_id": user_id}, change)


def conflict_number(number: str) -> Conflict:
    return Conflict(f"Contract number {number} is taken. / 合同编号 {number} 已被使用。",
                    code="number_taken", errors={"number": ["Taken. / 已被使用。"]})
