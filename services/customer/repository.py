"""The customers' repository: the customer documents, their lists, the pool rules.

One document per customer holds the aggregate (contacts included), its change log
(`history`), its follow-up records (`interactions`) and its outbox, so a change, its
log entry and its events are ONE write; `version` decides races (conditional update).
Loads leave the log, the follow-ups and the outbox out. The domain raises `version`; a
save writes it as given, on condition that the stored one is still the version loaded.
A consumed event is applied once: its id goes into `_seen_events` by the same write
(`crmkit.bus.idempotent.apply_once`).

The customer number is the document `_id`; numbers and company names are handed out by
`names_repository.NamesRepository` (`repository.names`).
Every query the service runs is served by an index declared in `ensure_indexes`
(tests/integration/customer check each filter against them).
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from crmkit import nesting
from crmkit.bus.idempotent import SEEN, apply_once
from crmkit.bus.outbox import (PENDING, notify_outbox, outbox_fields, pending_envelopes,
                               with_outbox)
from crmkit.clock import utcnow
from crmkit.errors import VersionConflict
from crmkit.mongo import drop_indexes
from crmkit.pagination import sort_spec
from crmkit.queries import all_of, count_matching, resumed
from crmkit.visibility import (shared_clauses, team_ancestors, team_subtree_filter,
                               visibility_filter)

from services.customer import naming, terms_repository
from services.customer.access import PUBLIC_FIELDS
from services.customer.documents import (TERMS_DIGEST, TERMS_PENDING, customer_doc,
                                         customer_from, interaction_doc, interaction_from)
from services.customer.domain import Customer
from services.customer.entities import Interaction
from services.customer.names_repository import CUSTOMERS, NamesRepository
from services.customer.reclaim import PoolRules
from services.customer.runs_repository import RunsRepository
from services.customer.terms_repository import (TermMatches, TermsRepository, new_rows,
                                                rows_digest, wanted_rows)

IMPORTS = "customer_imports"
RELEASE_BATCH = 100   # chunks released by one write (`_id: {$in}`: one SQL branch each)
SETTINGS = "pool_settings"
LOCKS = "locks"

INTERNAL = ("_outbox", "_outbox_pending", "_outbox_lease", SEEN)
# What a command needs of a customer: everything but the log, follow-ups and outbox.
LOAD = {"history": 0, "interactions": 0, "search_terms": 0, "public_terms": 0,
        TERMS_PENDING: 0, TERMS_DIGEST: 0, **{f: 0 for f in INTERNAL}}
# What a consumer needs: that, and the ids of the events applied already.
LOAD_FOR_EVENTS = {k: v for k, v in LOAD.items() if k != SEEN}
# What a list shows: no cool-down memory either (nor the consumed-event ids that
# versions before `_seen_events` kept on the customer).
LIST = {**LOAD, "releases": 0, "applied_events": 0}

# Sortable list fields -> stored field.
SORTABLE = {"created_at": "created_at", "updated_at": "updated_at", "number": "number",
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
# (`sort_for`): customers imported together share one created_at, and an index
# without it left the database sorting each group of ties in full for every page.
SORT_KEYS = ("status", "level", "industry", "source", "region", "created_at", "updated_at",
             "last_followup_at", "last_deal_on", "deal_amount_cents", "name")
UNIQUE_SORT_KEYS = ("number",)   # served by the index {number, deleted}
POOL_FILTERS = ("status", "level", "industry", "region")
DIRECTION = {"created_at": -1, "updated_at": -1, "deal_amount_cents": -1}
# Indexes data folders made before may still have: dropped at start. An index on a term
# array holds the whole array, which no query can use to find an element
# (docs/database.md; `q` reads the search rows), and cost every write.
RETIRED_INDEXES = ("deleted_1_owner_id_1", "owner_id_1_created_at_-1",
                   *(f"{key}_{DIRECTION.get(key, 1)}" for key in SORT_KEYS),
                   "search_terms_1", "public_terms_1", "shared_with_1", "shared_teams_1",
                   # the pool's index before it covered visibility too
                   "deleted_1_owner_id_1_status_1_level_1_industry_1_region_1_source_1_"
                   "created_at_-1__id_-1")
POOL_AND_VISIBILITY_INDEX = [
    ("deleted", 1), ("owner_id", 1), ("status", 1), ("level", 1), ("industry", 1),
    ("region", 1), ("source", 1), ("created_at", -1), ("_id", -1),
    ("owner_team", 1), ("owner_region", 1), ("number", 1)]
CUSTOMER_INDEXES = (
    # One owner's list, counted from the index alone and read in the default order.
    [("owner_id", 1), ("deleted", 1), ("created_at", -1), ("_id", -1)],
    # Counts of every customer not deleted (an admin's list) read this index alone. The
    # database's planner statistics keep it from standing in for a selective index.
    [("deleted", 1)],
    [("owner_team", 1)],
    [("owner_region", 1)],
    [("name_normalized", 1)],
    [("name_pinyin", 1)],
    [("tags", 1)],
    [("import_chunk", 1)],
    # the customers whose search rows are behind their document (terms_repository)
    [(TERMS_PENDING, 1)],
    # the customers a search found (`matched_clause`), counted from the index alone
    [("number", 1), ("deleted", 1)],
    # the pool's filters: counted from this index alone, whatever their combination,
    # and its page sorted from it before a document is read; so is what a rep,
    # supervisor or manager sees (owner, shares named by number, rank) with any filter
    POOL_AND_VISIBILITY_INDEX,
    # a pool filter's page in the default order (newest first) read from one of these
    # in order, without sorting what the filter matched
    *([(key, 1), ("created_at", -1), ("_id", -1)] for key in POOL_FILTERS),
    *([(key, DIRECTION.get(key, 1)), ("_id", DIRECTION.get(key, 1))] for key in SORT_KEYS),
)


# --------------------------------------------------------------------------- filters

EVERY_CUSTOMER = {"deleted": False}   # what a list without scope or filters selects


def _local_start(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=tz)


def customer_filter(*, tz: ZoneInfo, visible: dict | None = None, q=None, status=None,
                    level=None, industry=None, tag=None, source=None, owner_id=None,
                    region=None, created_from=None, created_to=None, no_followup_since=None,
                    claimed=None, **_ignored) -> list[dict]:
    """The clauses of the list filters of CONTRACT §4 (dates are organisation-local).
    `visible` (the pool, which lists customers the caller may not see in full): what
    reads a private field (contacts and phones in `q`, the last follow-up) matches only
    customers the caller sees in full; others match `q` on their public terms.
    `q` here is matched on the stored term arrays, which no index serves: the lists
    search through the index instead (`matched_clause`); the export, which reads every
    match in order, still scans them."""
    clauses: list[dict] = [dict(EVERY_CUSTOMER)]
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


def matched_clause(matches: TermMatches, *, visible: dict | None = None) -> dict:
    """`customer_filter`'s condition on `q`, from the customers the search index found
    for it (`TermsRepository.lookup`): the same rule, public terms for anyone, private
    ones only within `visible`."""
    # by `number` (the `_id` too): FerretDB turns `_id: {$in}` into one OR branch per
    # value, which SQLite plans slowly and refuses past a few hundred
    found = {"number": {"$in": matches.public + matches.private}}
    if visible is None or not matches.private:
        return {"number": {"$in": matches.public}} if visible is not None else found
    # all of them first: the condition an index narrows by (an `$or` alone is not)
    return all_of([found, {"$or": [{"number": {"$in": matches.public}},
                                   all_of([visible, {"number": {"$in": matches.private}}])]}])


NOTHING = {"_id": {"$in": []}}   # a filter no customer matches


def scope_filter(viewer, scope: str, shared: list[str] | None = None) -> dict:
    """mine | shared (with the caller or their team) | team (what the caller's
    subordinates own; while 上下级强制共享 is off, only what of it the caller sees) | all
    (everything visible). `shared`: the numbers of the customers shared with the caller
    (`TermsRepository.shared_numbers`), which stand for the share arrays when known."""
    if scope == "mine":
        return {"owner_id": viewer.user_id}
    if scope == "shared":
        return ({"$or": shared_clauses(viewer, "shared_with", "shared_teams")}
                if shared is None else {"number": {"$in": shared}})
    if scope == "team":
        if viewer.role == "admin":
            return {"owner_id": {"$ne": None}}
        if viewer.role == "manager" and viewer.region:
            team = {"owner_region": viewer.region}
        elif viewer.role == "supervisor" and viewer.team:
            team = team_subtree_filter(viewer.team)
        else:
            return {"owner_id": viewer.user_id}
        return team if viewer.sees_subordinates else all_of([team, visible_filter(viewer,
                                                                                  shared)])
    return visible_filter(viewer, shared)


def visible_filter(viewer, shared: list[str] | None = None) -> dict:
    """Exactly the customers `access.relation` lets `viewer` see in full (`shared` as
    in `scope_filter`)."""
    shares = None if shared is None else [{"number": {"$in": shared}}] if shared else []
    return visibility_filter(viewer, shared_teams_field="shared_teams", shares=shares)


def sort_for(sort: str | None, sortable: dict = SORTABLE) -> list[tuple[str, int]]:
    """A list's sort: the requested field, then `_id` (the tie-breaker) the same way;
    the number alone, which is unique (and read in order from its index)."""
    spec = sort_spec(sort, sortable, "-created_at")
    field, direction = spec[0]
    if sortable[field] in UNIQUE_SORT_KEYS:
        return [(sortable[field], direction)]
    return [(sortable[field], direction), ("_id", direction)]


# --------------------------------------------------------------------------- repository

@dataclass
class Page:
    """A page of customers and the total they are of; unpacks as (items, total)."""
    items: list[Customer]
    total: int

    def __iter__(self):
        return iter((self.items, self.total))


@dataclass
class ImportChunk:
    """A chunk of imported customers as `write_import_chunk` writes it: their documents,
    search rows and events, all made before any write (no I/O), so that an import makes
    the next chunk while the database writes this one."""
    id: str
    docs: list[dict]
    rows: list[dict]
    outbox: dict

    @classmethod
    def of(cls, chunk_id: str, customers: list[Customer], envelopes: list[dict]
           ) -> ImportChunk:
        docs = [{**customer_doc(customer), "history": nesting.encode(list(customer.log)),
                 "interactions": [], "import_chunk": chunk_id} for customer in customers]
        return cls(chunk_id, docs, new_rows(docs), outbox_fields(envelopes))

    @property
    def holds_events(self) -> bool:
        return self.outbox[PENDING]


class CustomerRepository:
    outbox_collections = [CUSTOMERS, IMPORTS]

    def __init__(self, db):
        self.db = db
        self.customers = db[CUSTOMERS]
        self.names = NamesRepository(db)
        self.imports = db[IMPORTS]
        self.settings = db[SETTINGS]
        self.runs = RunsRepository(db)
        self.locks = db[LOCKS]
        self.terms = TermsRepository(db)

    def ensure_indexes(self) -> None:
        for keys in CUSTOMER_INDEXES:
            self.customers.create_index(keys)
        self.fill_public_terms()
        self.terms.ensure_indexes()
        self.terms.fill()             # once: customers stored before the search rows
        self.terms.flag_shared()      # once: customers shared before their share rows
        self.terms.sync_pending()     # customers written while no process synced them
        drop_indexes(self.customers, RETIRED_INDEXES)
        self.names.ensure_indexes()
        self.imports.create_index([("state", 1), ("created_at", 1)])

    def fill_public_terms(self, batch: int = 500) -> int:
        """Give customers stored before `public_terms` existed their public search terms
        (once per database; later writes keep them). Not a change of the customer: its
        version stays. A concurrent save writes the terms itself, and the filter then
        leaves that document alone. Returns how many were filled."""
        if self.runs.done(PUBLIC_TERMS_FILLED):
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
        self.runs.mark(PUBLIC_TERMS_FILLED, filled=filled)
        return filled

    def declared_indexes(self) -> list[list[tuple[str, int]]]:
        return [list(keys) for keys in CUSTOMER_INDEXES]

    # ---- the aggregate

    def get(self, customer_id: str, *, with_seen_events: bool = False,
            with_interactions: bool = False) -> Customer | None:
        """The aggregate; `with_seen_events` for a consumer (the ids of applied events);
        `with_interactions` for editing a follow-up (read in the same document read, so
        they are of the version loaded)."""
        projection = LOAD_FOR_EVENTS if with_seen_events else LOAD
        if with_interactions:
            projection = {k: v for k, v in projection.items() if k != "interactions"}
        doc = self.customers.find_one({"_id": customer_id}, projection)
        if not doc:
            return None
        customer = customer_from(doc)
        if with_interactions:
            customer.interactions = [interaction_from(d) for d in doc.get("interactions") or []]
        return customer

    def insert(self, customer: Customer, envelopes: list[dict]) -> None:
        doc = {**customer_doc(customer), "history": nesting.encode(list(customer.log)),
               "interactions": [],
               **outbox_fields(envelopes)}
        self.terms.insert_for_new([doc])     # its search rows first: no flag to clear
        try:
            self.customers.insert_one(doc)
        except DuplicateKeyError:
            self.terms.sync([customer.id])   # the rows back to the customer stored there
            raise
        customer.log.clear()
        notify_outbox(CUSTOMERS, [customer.id])

    def save(self, customer: Customer, loaded_version: int, envelopes: list[dict], *,
             seen_event: str | None = None) -> None:
        """Write the changed aggregate, its log entries, follow-ups and events at once,
        if it is still at `loaded_version` (else VersionConflict). `seen_event`: the id
        of the consumed event this change applies, recorded by the same write."""
        fields = customer_doc(customer)
        rows = wanted_rows(fields)
        fields[TERMS_DIGEST] = rows_digest(rows)
        for key in ("_id", "number", "created_by", "created_at", TERMS_PENDING):
            fields.pop(key)
        if customer.interactions_changed:   # an edit or deletion: the list as it is now
            fields["interactions"] = [interaction_doc(i) for i in customer.interactions or ()]
        update: dict = {"$set": fields}
        push = {}
        if customer.log:
            push["history"] = {"$each": nesting.encode(list(customer.log))}
        if customer.new_interactions:
            push["interactions"] = {"$each": [interaction_doc(i)
                                              for i in customer.new_interactions]}
        if push:
            update["$push"] = push
        filter_ = {"_id": customer.id, "version": loaded_version}
        update = with_outbox(update, envelopes)
        # the terms as stored (their digest): the rows stand, one write in all
        if not self._write({**filter_, TERMS_DIGEST: fields[TERMS_DIGEST]}, update,
                           seen_event):
            # else the terms changed (or the version did): the flag in the same write,
            # the rows brought to it after
            flagged = {**update, "$set": {**update["$set"], TERMS_PENDING: True}}
            before = self._write(filter_, flagged, seen_event, before=True)
            if not before:
                raise VersionConflict(f"customer {customer.id} changed meanwhile")
            self.terms.follow(customer.id, customer.version,
                              None if before is True else before, rows)
        customer.log.clear()           # written: the next command starts a new entry
        customer.new_interactions.clear()
        customer.interactions_changed = False
        if envelopes:
            notify_outbox(CUSTOMERS, [customer.id])

    def _write(self, filter_: dict, update: dict, seen_event: str | None, *,
               before: bool = False):
        """The update if `filter_` matches (once per `seen_event`): falsy if it did not;
        with `before`, the document as it was before, where known (a consumed event's
        write does not tell: True). FerretDB 1.24 returns it whole (no projection)."""
        if seen_event is not None:
            return apply_once(self.customers, filter_, update, seen_event)
        if not before:
            return self.customers.update_one(filter_, update).matched_count == 1
        return self.customers.find_one_and_update(filter_, update)

    def history(self, customer_id: str) -> list[dict]:
        doc = self.customers.find_one({"_id": customer_id}, {"history": 1})
        return nesting.decode(list((doc or {}).get("history") or []))

    def interactions(self, customer_id: str) -> list[Interaction]:
        doc = self.customers.find_one({"_id": customer_id}, {"interactions": 1})
        return [interaction_from(d) for d in (doc or {}).get("interactions") or []]

    def owned_count(self, user_id: str) -> int:
        return count_matching(self.customers, {"owner_id": user_id, "deleted": False})

    # ---- queries

    def list_page(self, viewer, query: dict, *, tz: ZoneInfo) -> Page:
        """A page of the customers `viewer` sees (GET /customers)."""
        filter_, total = self._list_query(viewer, query, tz=tz)
        return self._page(filter_, sort=sort_for(query.get("sort")), page=query["page"],
                          per_page=query["per_page"], total=total)

    def pool_page(self, viewer, query: dict, *, tz: ZoneInfo) -> Page:
        """A page of every customer's public view (GET /pool): sorted by public fields
        only."""
        filter_, total = self._pool_query(viewer, query, tz=tz)
        return self._page(filter_, sort=sort_for(query.get("sort"), PUBLIC_SORTABLE),
                          page=query["page"], per_page=query["per_page"], total=total)

    def scope(self, viewer, scope: str) -> dict:
        """`scope_filter`, the customers shared with the caller named by number (found
        by their share rows) rather than matched on every customer's share arrays."""
        shared = None
        if viewer.role != "admin" and (scope in ("shared", "all") or (
                scope == "team" and not viewer.sees_subordinates)):
            shared = self.terms.shared_numbers(viewer.user_id, team_ancestors(viewer.team))
        return scope_filter(viewer, scope, shared)

    def list_filter(self, viewer, query: dict, *, tz: ZoneInfo) -> dict:
        """What GET /customers selects: the caller's scope first (for a rep the
        narrowest clause), then the filters."""
        return self._list_query(viewer, query, tz=tz)[0]

    def _list_query(self, viewer, query: dict, *, tz: ZoneInfo) -> tuple[dict, int | None]:
        """`list_filter`, and how many customers it selects where the search index
        counts that alone: a term too common for the index's bounded answer (科技 among
        200,000 companies) with nothing else narrowing the list (an admin's search).
        Such a term's page is then walked along the sort's index, matching the stored
        term arrays of the customers passed on the way (a common term: a few hundred)."""
        matches, query = self._search(query)
        scope = self.scope(viewer, query.get("scope", "all"))
        clauses = [scope, *customer_filter(tz=tz, **query)]
        if matches is None or not matches.capped:
            if matches is not None:
                clauses.append(matched_clause(matches))
            return all_of(clauses), None
        rest = all_of([scope, *customer_filter(tz=tz, **{**query, "q": None})])
        if rest != EVERY_CUSTOMER:
            return all_of(clauses), None
        return all_of(clauses), self.terms.count_customers(naming.query_term(query["q"]))

    def pool_filter(self, viewer, query: dict, *, tz: ZoneInfo) -> dict:
        """What GET /pool selects: a filter or search reading a private field finds only
        those `viewer` sees in full."""
        return self._pool_query(viewer, query, tz=tz)[0]

    def _pool_query(self, viewer, query: dict, *, tz: ZoneInfo) -> tuple[dict, int | None]:
        """`pool_filter`, and how many customers it selects where the search index
        counts that: a term too common for the index's bounded answer with no other
        filter (`_pool_total`). Its page is walked along the sort's index."""
        matches, query = self._search(query)
        # read only by a search and the follow-up filter (two queries of the share rows
        # saved on every other pool page); otherwise what matches nothing, to fail closed
        reads_private = matches is not None or query.get("q") or query.get("no_followup_since")
        visible = self.scope(viewer, "all") if reads_private else NOTHING
        term = naming.query_term(query.get("q"))
        if matches is not None and matches.capped:
            matches = self._pool_matches(term, visible) or matches
            if not matches.capped:
                query = {**query, "q": None}
        clauses = customer_filter(tz=tz, visible=visible, **query)
        if matches is None or not matches.capped:
            if matches is not None:
                clauses.append(matched_clause(matches, visible=visible))
            return all_of(clauses), None
        if customer_filter(tz=tz, visible=visible, **{**query, "q": None}) != [EVERY_CUSTOMER]:
            return all_of(clauses), None
        return all_of(clauses), self._pool_total(term, visible)

    def _pool_matches(self, term: str, visible: dict) -> TermMatches | None:
        """The pool's answer to a term past the index's bound, by number, where it is
        still small: few customers have a public term for it (a phone's digits are
        private) and few of those the caller sees have only a private one. None for an
        admin (who sees every customer: the private part is every match)."""
        if visible == {}:
            return None
        public = self.terms.public_customers(term)
        if public is None:
            return None
        private = [doc["_id"] for doc in self.customers.find(
            self._found_privately(term, visible), {"_id": 1}).limit(
            terms_repository.MATCH_LIMIT + 1)]
        if len(private) > terms_repository.MATCH_LIMIT:
            return None
        return TermMatches(public=public, private=private)

    def _found_privately(self, term: str, visible: dict) -> dict:
        """The customers of `visible` with a private term starting with `term` and no
        public one: among the few with a private row where they are few."""
        prefix = {"$regex": "^" + re.escape(term)}
        clauses = [EVERY_CUSTOMER, visible, {"search_terms": prefix},
                   {"$nor": [{"public_terms": prefix}]}]
        candidates = self.terms.private_customers(term)
        if candidates is not None:
            clauses.insert(0, {"number": {"$in": candidates}})
        return all_of(clauses)

    def _pool_total(self, term: str, visible: dict) -> int | None:
        """How many customers the pool's `q` finds (no other filter): those with a public
        term starting with `term`, counted from the search index, and those of `visible`
        found only by a private one. None where the index cannot count (rows of an older
        format left)."""
        if visible == {}:     # the caller sees every customer: a term of any kind
            return self.terms.count_customers(term)
        public = self.terms.count_customers(term, public=True)
        if public is None:
            return None
        return public + count_matching(self.customers, self._found_privately(term, visible))

    def _search(self, query: dict) -> tuple[TermMatches | None, dict]:
        """The search index's answer to `q` and the rest of the query (without `q`);
        None and the query as it is without `q`. When the term is too common for the
        index's bounded answer (which may hold none of what the caller sees), the
        answer is `capped` and `q` stays in the query: the stored term arrays are then
        matched, within the scope and filters (a rep's own customers through the
        owner's index; for an admin, along the sort's index: `_list_query`)."""
        term = naming.query_term(query.get("q"))
        if not term:
            return None, query
        matches = self.terms.lookup(term)
        if matches.capped:
            return matches, query
        return matches, {**query, "q": None}

    def export_rows(self, viewer, query: dict, *, tz: ZoneInfo, limit: int,
                    batch: int = 500) -> Iterator[Customer]:
        """What the list would show, all pages (the export), read in batches as they
        are consumed, and read on past a lost cursor (`resumed`). The filter is built
        here, so a bad one fails before a byte is sent."""
        filter_ = all_of([self.scope(viewer, query.get("scope", "all")),
                          *customer_filter(tz=tz, **query)])
        order = sort_for(query.get("sort"))

        def read(skip: int):
            return (self.customers.find(filter_, LIST, batch_size=batch).sort(order)
                    .skip(skip).limit(limit - skip))
        return (customer_from(doc) for doc in resumed(read))

    def _page(self, filter_: dict, *, sort, page: int, per_page: int,
              total: int | None = None) -> Page:
        """One page of a list, in one read: the database sorts, skips and limits before
        it decodes a document (exact.go), and decodes each whole whatever the projection
        (a customer's term arrays make it ~8 KB), so reading the page's ids first and
        then their documents decoded the page twice (~40 % of a search's database CPU).
        `total`: how many `filter_` selects where known (else counted)."""
        if total is None:
            total = count_matching(self.customers, filter_)
        cursor = self.customers.find(filter_, LIST).sort(sort).skip((page - 1) * per_page)
        return Page([customer_from(doc) for doc in cursor.limit(per_page)], total)

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
        denormalised owner fields of the visibility filter). Not a command on each
        customer but a copy of the directory refreshed in one write for all of them;
        the version still rises, so a command loaded before loses its race rather than
        write the old team back."""
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

    # ---- import chunks (a batch's events in one outbox document)

    def insert_import_chunk(self, chunk_id: str, import_id: str, customers: list[Customer],
                            envelopes: list[dict], now: datetime) -> None:
        """A chunk written and its events released at once (`write_import_chunk`)."""
        chunk = ImportChunk.of(chunk_id, customers, envelopes)
        self.write_import_chunk(chunk, import_id, now)
        self.release_import_chunks([(chunk.id, chunk.holds_events)])

    def write_import_chunk(self, chunk: ImportChunk, import_id: str, now: datetime) -> None:
        """Write a chunk of imported customers with their events held in one document:
        1) the chunk with its events, not yet pending (`writing`); 2) the customers
        (their search rows first: no flag to sync). `release_import_chunks` then hands
        the events to the relay. A crash before that is finished by
        `recover_import_chunks` (events only for customers that exist)."""
        self.imports.insert_one({"_id": chunk.id, "import_id": import_id, "state": "writing",
                                 "created_at": now,
                                 "customer_ids": [doc["_id"] for doc in chunk.docs],
                                 **chunk.outbox, PENDING: False})
        self.terms.insert_new(chunk.rows)
        if chunk.docs:
            self.customers.insert_many(chunk.docs, ordered=False)

    def release_import_chunks(self, chunks: list[tuple[str, bool]]) -> None:
        """Hand the events of written chunks, (chunk id, whether it holds events), to
        the relay. An import releases its chunks once all are written: the services
        consuming its events (a write each) then do not compete with it for the
        database."""
        for pending in (True, False):
            ids = [chunk_id for chunk_id, holds in chunks if holds is pending]
            for start in range(0, len(ids), RELEASE_BATCH):
                self.imports.update_many(
                    {"_id": {"$in": ids[start:start + RELEASE_BATCH]}, "state": "writing"},
                    {"$set": {"state": "written", PENDING: pending}})
        released = [chunk_id for chunk_id, holds in chunks if holds]
        if released:
            notify_outbox(IMPORTS, released)

    def recover_import_chunks(self, older_than: datetime) -> int:
        recovered = 0
        for chunk in self.imports.find({"state": "writing", "created_at": {"$lt": older_than}}):
            existing = set(self.customers.distinct("_id", {"import_chunk": chunk["_id"]}))
            kept = [e for e in pending_envelopes(chunk) if e["aggregate_id"] in existing]
            self.imports.update_one({"_id": chunk["_id"], "state": "writing"}, {"$set": {
                "state": "written", **outbox_fields(kept)}})
            recovered += 1
        if recovered:
            notify_outbox(IMPORTS)
        return recovered

