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

A prefix may match several rows of one customer (s: shangce, sckj); each row carries
`lcp`, how many leading characters its term shares with the customer's term before it in
sorted order. A customer's terms starting with t lie next to each other in that order and
only the first of them has `lcp` < len(t), so the customers with a term starting with t
are counted from the index `{term, lcp, lcp_public}` alone, one row each
(`first_of_run`), however common t is. A public row also carries `lcp_public`, the same
among the customer's public rows only: the customers the pool's `q` finds by a public
term are counted the same way (`first_of_run(t, public=True)`). Rows written before they
carried both are rewritten once, in the background (`fill_runs`); until then such a
count is not taken (`walkable`).

The same rows index the customer's shares (`shared_with`, `shared_teams`, arrays too):
one row per grantee under a term no search can reach (`share_term`: a control
character, which `naming.query_term` drops), so that a rep's list finds the customers
shared with them or their teams by the index (`shared_numbers`) and the list filter
names them by number, which an index serves, instead of reading every customer's arrays.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field

from pymongo.errors import BulkWriteError

from crmkit.mongo import drop_indexes
from crmkit.queries import count_matching

from services.customer.documents import TERMS_DIGEST as DIGEST
from services.customer.documents import TERMS_PENDING as PENDING
from services.customer.names_repository import CUSTOMERS
from services.customer.runs_repository import RunsRepository

TERMS = "customer_terms"
FILLED = "migration:customer_terms"
SHARES_FILLED = "migration:customer_share_rows"
# rows written before they carried `lcp` and `lcp_public`: rewritten once, a few batches
# per job run (it succeeded "migration:customer_term_runs", of rows without `lcp_public`)
RUNS_FILLED = "migration:customer_term_public_runs"
RUNS_BATCHES_PER_RUN = 10
# {term, lcp, lcp_public}: the rows of a prefix a range of it, and their customers
# counted from it alone (`first_of_run`); it replaced {term} (as costly to keep as {term}
# alone was), then {term, lcp}
TERM_INDEXES = ([("term", 1), ("lcp", 1), ("lcp_public", 1)], [("customer_id", 1)])
RETIRED_TERM_INDEXES = ("term_1", "term_1_lcp_1")
# A search reads at most this many rows through the index (counted first from the
# index alone), so finds at most this many customers: a prefix may match several terms
# of one customer (s: shangce, sckj). A term more common than that (one letter, 科技
# among 200,000 companies) is matched on the stored term arrays instead, within the
# caller's scope (`CustomerRepository._search`): exact, but a scan. Each row read costs
# ~40 µs of the database's CPU; the found numbers go into the list's `$in`.
MATCH_LIMIT = 2000
# flagged customers a search syncs first, at most (the start and a job sync the rest)
SYNC_BEFORE_SEARCH = 200
SYNC_ROUNDS = 5
# The share rows' terms: out of reach of any search term (a control character first).
SHARE = "\x1eshare:"
# The customers shared with one user (and their teams) that a list names by number; past
# it the list matches the share arrays of every customer instead (slow, exact).
SHARED_LIMIT = 1000


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


def row_id(customer_id: str, term: str, public: bool, lcp: int | None = None,
           lcp_public: int | None = None) -> str:
    """A row's id is its content (a row whose `lcp` changed is another row), so the
    difference of two documents' rows is the difference of their ids. Without `lcp` or
    `lcp_public`: the ids rows had before they carried them."""
    key = f"{customer_id}\x1f{'p' if public else 's'}\x1f{term}"
    if lcp is not None:
        key = f"{key}\x1f{lcp}"
    return key if lcp_public is None else f"{key}\x1f{lcp_public}"


def common_prefix(before: str | None, term: str) -> int:
    """How many leading characters `term` shares with `before` (none without one)."""
    if before is None:
        return 0
    return len(os.path.commonprefix([before, term]))


def first_of_run(term: str, *, public: bool = False) -> dict:
    """One row of each customer with a term (with `public`, a public term) starting with
    `term`: the first of its run (module docstring), counted from the index alone."""
    return {"term": prefix_range(term),
            "lcp_public" if public else "lcp": {"$lt": len(term)}}


def share_term(*, user_id: str | None = None, team: str | None = None) -> str:
    """The term of a share row: with a user by name, or with a team (and so with every
    team below it: "a/b/" is "a/b", as `team_within` reads it)."""
    return SHARE + (f"u:{user_id}" if user_id is not None else f"t:{team.rstrip('/')}")


def share_rows(doc: dict) -> dict[str, dict]:
    """One row per grantee of the customer's shares; private, with the number a list
    selects by."""
    terms = {share_term(user_id=u) for u in doc.get("shared_with") or ()}
    terms |= {share_term(team=t) for t in doc.get("shared_teams") or ()}
    return {row_id(doc["_id"], term, False): {
        "_id": row_id(doc["_id"], term, False), "term": term, "customer_id": doc["_id"],
        "public": False, "number": doc.get("number", doc["_id"])} for term in sorted(terms)}


def wanted_rows(doc: dict) -> dict[str, dict]:
    """The rows a stored customer document stands for (none once deleted). A term that
    starts a longer term of the customer at least as public (科技 of 科技有限公司, sc of
    sckj) has no row: whatever starts it starts the longer one, whose row finds the
    same customer, publicly if it was public."""
    if not doc or doc.get("deleted"):
        return {}
    public = set(doc.get("public_terms") or ())
    customer_id = doc["_id"]
    kept = []
    # in sorted order the terms starting with t come right after t: each term is
    # compared with the next one (the next public one for a public term), in one pass
    after = after_shown = None
    for term in sorted(set(doc.get("search_terms") or ()), reverse=True):
        shown = term in public
        longer = after_shown if shown else after
        if longer is None or not longer.startswith(term):
            kept.append((term, shown))
        after = term
        if shown:
            after_shown = term
    rows, before, before_shown = {}, None, None
    for term, shown in reversed(kept):
        row = {"term": term, "customer_id": customer_id, "public": shown,
               "lcp": common_prefix(before, term)}
        if shown:
            row["lcp_public"] = common_prefix(before_shown, term)
            before_shown = term
        key = row_id(customer_id, term, shown, row["lcp"], row.get("lcp_public"))
        rows[key] = {"_id": key, **row}
        before = term
    rows.update(share_rows(doc))
    return rows


def possible_row_ids(doc: dict) -> set[str]:
    """Every row a document without the flag may have: its `wanted_rows`; one per term
    without `lcp`, as versions before `wanted_rows` left out the terms that start longer
    ones, and before rows carried `lcp`, wrote them; its rows without `lcp_public`, as
    versions before public rows carried it wrote them."""
    if not doc or doc.get("deleted"):
        return set()
    public = set(doc.get("public_terms") or ())
    wanted = wanted_rows(doc)
    return ({row_id(doc["_id"], term, term in public)
             for term in doc.get("search_terms") or ()} | set(wanted) |
            {row_id(doc["_id"], row["term"], row["public"], row["lcp"])
             for row in wanted.values() if "lcp" in row})


def rows_digest(rows) -> str:
    """A digest of a customer's rows (their ids, which are their content)."""
    return hashlib.blake2b("\n".join(sorted(rows)).encode(), digest_size=12).hexdigest()


def new_rows(docs: list[dict]) -> list[dict]:
    """The rows of customer documents about to be inserted (`insert_for_new`), which
    lose their flag and get the digest of these rows (no I/O)."""
    rows = []
    for doc in docs:
        doc.pop(PENDING, None)
        wanted = wanted_rows(doc)
        doc[DIGEST] = rows_digest(wanted)
        rows.extend(wanted.values())
    return rows


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
        self.runs = RunsRepository(db)
        self._walkable = False

    def ensure_indexes(self) -> None:
        for keys in TERM_INDEXES:
            self.rows.create_index(keys)
        drop_indexes(self.rows, RETIRED_TERM_INDEXES)
        # a database without customers has no rows to rewrite
        if not self.runs.done(RUNS_FILLED) and not count_matching(self.customers, {},
                                                                   limit=1):
            self.runs.mark(RUNS_FILLED, rewritten=0)

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
                {"search_terms": 1, "public_terms": 1, "shared_with": 1, "shared_teams": 1,
                 "number": 1, "version": 1, "deleted": 1, PENDING: 1}))
            wanted: dict[str, dict] = {}
            for doc in docs:
                wanted.update(wanted_rows(doc))
            have = {row["_id"] for row in self.rows.find({"customer_id": {"$in": ids}},
                                                         {"_id": 1})}
            stale = sorted(have - set(wanted))
            missing = [row for key, row in wanted.items() if key not in have]
            if stale:   # narrowed by the customers' index: `_id $in` alone read every row
                self.rows.delete_many({"customer_id": {"$in": ids}, "_id": {"$in": stale}})
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
        if before is None or before.get(PENDING) or before.get(DIGEST) != rows_digest(
                wanted_rows(before)):
            # (without its rows' digest the rows are not known to be its `wanted_rows`:
            # a document of a version before the digest, or before rows carried `lcp`)
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
        self.insert_new(new_rows(docs))

    def insert_new(self, rows: list[dict]) -> None:
        """`insert_for_new` of rows `new_rows` made beforehand (an import makes a
        chunk's while it writes the one before)."""
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
        if self.runs.done(FILLED):
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
        self.runs.mark(FILLED, filled=filled)
        return filled

    def keep_up(self) -> None:
        """The periodic job's part: flagged customers synced, then the next part of
        `fill_runs`."""
        self.sync_pending()
        self.fill_runs()

    def fill_runs(self, batch: int = 500, batches: int = RUNS_BATCHES_PER_RUN) -> int:
        """Once per database, in the background: rewrite the rows of customers stored
        before rows carried `lcp` (`sync` of each, in `_id` order, up to `batches`
        batches a call, resumed where the last call stopped). Returns how many
        customers it synced."""
        if self.walkable():
            return 0
        done, last = 0, self.runs.position(RUNS_FILLED)
        for _ in range(batches):
            filter_ = {} if last is None else {"_id": {"$gt": last}}
            ids = [d["_id"] for d in self.customers.find(filter_, {"_id": 1})
                   .sort([("_id", 1)]).limit(batch)]
            if ids:
                self.sync(ids)
                done, last = done + len(ids), ids[-1]
                self.runs.advance(RUNS_FILLED, last)
            if len(ids) < batch:
                self.runs.mark(RUNS_FILLED, rewritten=done)
                break
        return done

    def walkable(self) -> bool:
        """Whether every row carries `lcp`, and every public one `lcp_public` (new
        databases, or `fill_runs` is through)."""
        self._walkable = self._walkable or self.runs.done(RUNS_FILLED)
        return self._walkable

    def flag_shared(self) -> int:
        """Once per database: flag the customers with shares stored before their share
        rows existed, for `sync_pending` to give them their rows (and their digest).
        Returns how many were flagged."""
        if self.runs.done(SHARES_FILLED):
            return 0
        flagged = self.customers.update_many(
            {"deleted": False, "$or": [{"shared_with": {"$exists": True, "$ne": []}},
                                       {"shared_teams": {"$exists": True, "$ne": []}}]},
            {"$set": {PENDING: True}}).modified_count
        self.runs.mark(SHARES_FILLED, flagged=flagged)
        return flagged

    # ---- searching

    def _catch_up(self) -> None:
        """Rows never stay behind a stored document when read: a crash between a write
        and its rows left the customer flagged."""
        if count_matching(self.customers, {PENDING: True}, limit=1):
            self.sync_pending(limit=SYNC_BEFORE_SEARCH)

    def shared_numbers(self, user_id: str, teams: list[str]) -> list[str] | None:
        """The numbers of the customers shared with `user_id` by name or with any of
        `teams` (theirs and those above it); None past SHARED_LIMIT."""
        self._catch_up()
        terms = [share_term(user_id=user_id), *(share_term(team=t) for t in teams)]
        rows = self.rows.find({"term": {"$in": terms}}, {"number": 1}).limit(
            SHARED_LIMIT * len(terms) + 1)
        numbers = sorted({row["number"] for row in rows})
        return None if len(numbers) > SHARED_LIMIT else numbers

    def lookup(self, term: str) -> TermMatches:
        """The customers with a term starting with `term`; none and `capped` when more
        than MATCH_LIMIT rows have one."""
        self._catch_up()
        rows = self._bounded({"term": prefix_range(term)}, {"customer_id": 1, "public": 1})
        if rows is None:
            return TermMatches(capped=True)
        public, private = set(), set()
        for row in rows:
            (public if row.get("public") else private).add(row["customer_id"])
        return TermMatches(public=sorted(public), private=sorted(private - public))

    def count_customers(self, term: str, *, public: bool = False) -> int | None:
        """How many customers have a term starting with `term`, public or private (with
        `public`, a public one), from the index alone (`first_of_run`); None while rows
        without `lcp` are left."""
        if not self.walkable():
            return None
        return count_matching(self.rows, first_of_run(term, public=public))

    def public_customers(self, term: str) -> list[str] | None:
        """The customers with a public term starting with `term` (one row each:
        `first_of_run`); None past MATCH_LIMIT, or while rows without `lcp_public` are
        left."""
        if not self.walkable():
            return None
        rows = self._bounded(first_of_run(term, public=True), {"customer_id": 1})
        return None if rows is None else sorted(row["customer_id"] for row in rows)

    def private_customers(self, term: str) -> list[str] | None:
        """The customers with a private row starting with `term` (among them all whom
        only a private term of theirs finds: module docstring); None past MATCH_LIMIT
        rows, or while rows without `lcp_public` are left."""
        if not self.walkable():
            return None
        rows = self._bounded({"term": prefix_range(term), "lcp_public": None},
                             {"customer_id": 1})
        return None if rows is None else sorted({row["customer_id"] for row in rows})

    def _bounded(self, filter_: dict, projection: dict) -> list[dict] | None:
        """The rows `filter_` selects; None past MATCH_LIMIT. Too many are counted from
        the index, not read: a count is ~1 ms where reading the rows would be the
        slowest part of the search."""
        if count_matching(self.rows, filter_, limit=MATCH_LIMIT + 1) > MATCH_LIMIT:
            return None
        rows = list(self.rows.find(filter_, projection).limit(MATCH_LIMIT + 1))
        return None if len(rows) > MATCH_LIMIT else rows     # (or rows written since)
