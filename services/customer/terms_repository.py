"""The customers' search index: one flat row per (customer, search term), so that `q`
is a range scan of an index instead of a read of every customer.

A customer document keeps its terms as arrays (`search_terms`, and `public_terms`, the
part the pool may match); FerretDB reaches an array's elements only through `json_each`
over every document (docs/database.md), which took 4.4 s at 10,000 customers. Here each
term is a row `{term, customer_id, public}` with an index on `term`: "terms starting
with t" is the range [t, t') (t' is t with its last character raised), which FerretDB's
patched SQLite backend serves from that index, and which selects exactly what the
anchored `$regex` on the array selected.

The rows are derived from the customer document, never the other way round, and there
are no multi-document transactions. A new customer's rows are written before its
document (`insert_for_new`), which then needs no flag: a crash in between leaves rows of
a customer that does not exist, which a search drops with the ids it finds no customer
for. A later write that changes the customer's terms sets `_terms_pending` in the same
write; the repository then brings the customer's rows to what its document holds now
(`follow`, `sync`) and clears the flag on condition that the document is still the
version it wrote or read. A crash in between leaves the flag, and `sync` runs again for
every flagged customer at start (`sync_pending`) and before each search (`lookup`), so
rows never stay behind a document that was written; a sync that read an older version
than the one stored fails to clear the flag and reads again.

A write that changes no term writes no row and sets no flag: the document keeps a
digest of its rows (`TERMS_DIGEST`, `rows_digest`), and the save is conditional on the
stored digest being that of its own terms (`CustomerRepository.save`).
"""
from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field

from pymongo.errors import BulkWriteError, DuplicateKeyError

from crmkit.queries import count_matching

from services.customer.documents import TERMS_DIGEST as DIGEST
from services.customer.documents import TERMS_PENDING as PENDING
from services.customer.names_repository import CUSTOMERS

TERMS = "customer_terms"
FILLED = "migration:customer_terms"
TERM_INDEXES = ([("term", 1)], [("customer_id", 1)], )
# A search finds at most this many customers through the index; a term more common
# than that (one letter, 科技 among 200,000 companies) is counted up to it and the page
# says so (`total_capped`): the user narrows the search.
MATCH_LIMIT = 200
# rows read for it: a prefix may match several terms of one customer (s: shangce, sckj)
ROW_LIMIT = 4 * MATCH_LIMIT
SYNC_ROUNDS = 5


@dataclass
class TermMatches:
    """The customers whose terms start with a query: through a public term (the pool
    may list them to anyone) or only through a private one (contacts, phones)."""
    public: list[str] = field(default_factory=list)
    private: list[str] = field(default_factory=list)
    capped: bool = False


def prefix_range(term: str) -> dict:
    """The strings starting with `term`, as a range an index serves (MongoDB and SQLite
    both compare strings by UTF-8 bytes, that is by code point)."""
    last = ord(term[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:   # surrogates are no characters: skip to the next one
        last = 0xE000
    if last > 0x10FFFF:
        return {"$gte": term}
    return {"$gte": term, "$lt": term[:-1] + chr(last)}


def row_id(customer_id: str, term: str, public: bool) -> str:
    return f"{customer_id}\x1f{'p' if public else 's'}\x1f{term}"


def _starts_another(ordered: list[str], term: str) -> bool:
    """Whether a longer string of `ordered` (sorted, holding `term`) starts with `term`:
    those strings sort right after it."""
    after = bisect_right(ordered, term)
    return after < len(ordered) and ordered[after].startswith(term)


def wanted_rows(doc: dict) -> dict[str, dict]:
    """The rows a stored customer document stands for (none once deleted). A term that
    starts a longer term of the customer at least as public (科技 of 科技有限公司, sc of
    sckj) has no row: whatever starts it starts the longer one, whose row finds the
    same customer, publicly if it was public."""
    if not doc or doc.get("deleted"):
        return {}
    public = set(doc.get("public_terms") or ())
    terms = sorted(set(doc.get("search_terms") or ()))
    shown_terms = [term for term in terms if term in public]
    rows = {}
    for term in terms:
        shown = term in public
        if _starts_another(shown_terms if shown else terms, term):
            continue
        rows[row_id(doc["_id"], term, shown)] = {
            "_id": row_id(doc["_id"], term, shown), "term": term,
            "customer_id": doc["_id"], "public": shown}
    return rows


def possible_row_ids(doc: dict) -> set[str]:
    """Every row a document without the flag may have: one per term, as versions before
    `wanted_rows` left out the terms that start longer ones wrote them."""
    if not doc or doc.get("deleted"):
        return set()
    public = set(doc.get("public_terms") or ())
    return {row_id(doc["_id"], term, term in public) for term in doc.get("search_terms") or ()}


def rows_digest(rows) -> str:
    """A digest of a customer's rows (their ids, which are their content)."""
    return hashlib.blake2b("\n".join(sorted(rows)).encode(), digest_size=12).hexdigest()


def row_changes(before: dict, rows: dict[str, dict]) -> tuple[list[dict], list[str]]:
    """The rows to insert and the ids to delete to turn the rows of `before` (a stored
    document without the flag: its rows are its `wanted_rows`, perhaps with those an
    earlier version wrote too) into `rows`."""
    have = wanted_rows(before)
    missing = [row for key, row in rows.items() if key not in have]
    stale = sorted(possible_row_ids(before) - set(rows))
    return missing, stale


class TermsRepository:
    def __init__(self, db):
        self.db = db
        self.rows = db[TERMS]
        self.customers = db[CUSTOMERS]
        self.runs = db["scheduled_runs"]

    def ensure_indexes(self) -> None:
        for keys in TERM_INDEXES:
            self.rows.create_index(keys)

    # ---- keeping the rows

    def sync(self, customer_ids) -> int:
        """Bring the rows of these customers to their documents as stored now, then
        clear their flags; returns how many customers had rows changed."""
        ids, changed = list(dict.fromkeys(customer_ids)), 0
        for _ in range(SYNC_ROUNDS):
            if not ids:
                break
            docs = list(self.customers.find(
                {"_id": {"$in": ids}},
                {"search_terms": 1, "public_terms": 1, "version": 1, "deleted": 1, PENDING: 1}))
            wanted: dict[str, dict] = {}
            for doc in docs:
                wanted.update(wanted_rows(doc))
            have = {row["_id"] for row in self.rows.find({"customer_id": {"$in": ids}},
                                                         {"_id": 1})}
            stale = sorted(have - set(wanted))
            missing = [row for key, row in wanted.items() if key not in have]
            if stale:
                self.rows.delete_many({"_id": {"$in": stale}})
            self._insert(missing)
            changed += len({r["customer_id"] for r in missing} |
                           {key.split("\x1f", 1)[0] for key in stale})
            flagged = [d for d in docs if d.get(PENDING)]
            # cleared only where the document is still the version read; any other was
            # written meanwhile and is read again
            cleared = {d["_id"] for d in flagged if self.customers.update_one(
                {"_id": d["_id"], "version": d.get("version"), PENDING: True},
                {"$unset": {PENDING: ""},
                 "$set": {DIGEST: rows_digest(wanted_rows(d))}}).modified_count}
            ids = [d["_id"] for d in flagged if d["_id"] not in cleared]
        return changed

    def follow(self, customer_id: str, version: int, before: dict | None,
               rows: dict[str, dict]) -> None:
        """After a write that changed a customer's terms and set its flag: its rows
        turned into `rows` (the `wanted_rows` of what was written) by the difference from
        `before`, the document that write replaced, then the flag cleared if the
        document is still the `version` written. Where `before` is unknown, or had its
        own flag (its rows may be behind it), or the flag was not cleared (a later
        write), `sync` reads what is stored instead."""
        if before is None or before.get(PENDING):
            self.sync([customer_id])
            return
        missing, stale = row_changes(before, rows)
        self._insert(missing)
        if stale:   # the customer's index narrows the delete to its own rows
            self.rows.delete_many({"customer_id": customer_id, "_id": {"$in": stale}})
        if not self.customers.update_one(
                {"_id": customer_id, "version": version, PENDING: True},
                {"$unset": {PENDING: ""}}).modified_count:
            self.sync([customer_id])

    def insert_for_new(self, docs: list[dict]) -> None:
        """Rows for customer documents about to be inserted (a create, an import):
        written before the documents, which then need no flag (it is taken out of them)
        and get the digest of their rows. A crash in between leaves rows of customers
        that do not exist, which a search drops with the ids it finds no customer for."""
        rows = []
        for doc in docs:
            doc.pop(PENDING, None)
            wanted = wanted_rows(doc)
            doc[DIGEST] = rows_digest(wanted)
            rows.extend(wanted.values())
        self._insert(rows)

    def _insert(self, rows: list[dict]) -> None:
        if not rows:
            return
        try:
            self.rows.insert_many(rows, ordered=False)
        except BulkWriteError as error:
            # another sync of the same customer wrote some of them: the rows are the
            # same (the id is the content), so a duplicate is one written already
            failed = error.details.get("writeErrors") or []
            if any(e.get("code") != 11000 for e in failed):
                raise
            if error.details.get("nInserted", 0) + len(failed) < len(rows):
                for row in rows:   # the server stopped at the first: each on its own
                    self.rows.replace_one({"_id": row["_id"]}, row, upsert=True)

    def sync_pending(self, batch: int = 500, limit: int | None = None) -> int:
        """Sync every customer written since its rows were (a crash, an import, a data
        set loaded beside the service); returns how many were synced."""
        done = 0
        while limit is None or done < limit:
            size = batch if limit is None else min(batch, limit - done)
            ids = [d["_id"] for d in self.customers.find({PENDING: True}, {"_id": 1})
                   .limit(size)]
            if not ids:
                break
            self.sync(ids)
            done += len(ids)
            if len(ids) < size:
                break
        return done

    def fill(self, batch: int = 500) -> int:
        """Once per database: rows for the customers stored before this index existed,
        read in `_id` order in batches (idempotent: a rerun after a crash finds most
        rows there). Returns how many customers it gave rows."""
        if self.runs.find_one({"_id": FILLED}):
            return 0
        filled, last = 0, None
        while True:
            filter_ = {} if last is None else {"_id": {"$gt": last}}
            ids = [d["_id"] for d in self.customers.find(filter_, {"_id": 1})
                   .sort([("_id", 1)]).limit(batch)]
            if ids:
                filled += self.sync(ids)
            if len(ids) < batch:
                break
            last = ids[-1]
        try:
            self.runs.insert_one({"_id": FILLED, "filled": filled})
        except DuplicateKeyError:
            pass
        return filled

    # ---- searching

    def lookup(self, term: str) -> TermMatches:
        """The customers with a term starting with `term` (at most MATCH_LIMIT)."""
        if count_matching(self.customers, {PENDING: True}, limit=1):
            self.sync_pending(limit=MATCH_LIMIT)
        matches, seen_public, seen_private = TermMatches(), set(), set()
        rows = list(self.rows.find({"term": prefix_range(term)},
                                   {"customer_id": 1, "public": 1}).limit(ROW_LIMIT))
        for row in rows:
            customer_id = row["customer_id"]
            if row.get("public"):
                seen_public.add(customer_id)
            else:
                seen_private.add(customer_id)
            if len(seen_public | seen_private) > MATCH_LIMIT:
                matches.capped = True
                break
        else:
            matches.capped = len(rows) == ROW_LIMIT
        ids = seen_public | seen_private
        if len(ids) > MATCH_LIMIT:
            ids = set(sorted(ids)[:MATCH_LIMIT])
        matches.public = sorted(seen_public & ids)
        matches.private = sorted((seen_private - seen_public) & ids)
        return matches
