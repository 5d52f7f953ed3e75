"""Small helpers for MongoDB filters: building them out of optional parts, counting them;
and long reads that survive a lost cursor."""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from pymongo.errors import CursorNotFound

log = logging.getLogger(__name__)

# a read that loses its cursor this many times in a row, with no document read in
# between, is failing, not unlucky
CURSOR_LOSSES = 3


def all_of(clauses) -> dict:
    """AND of the non-empty clauses; {} (everything) when none is left."""
    present = [clause for clause in clauses if clause]
    if not present:
        return {}
    return present[0] if len(present) == 1 else {"$and": present}


def count_matching(collection, filter_: dict, *, skip: int = 0, limit: int = 0) -> int:
    """The number of documents `filter_` matches, by the `count` command: FerretDB counts
    it in SQL (see crm/ferretdb_go/_overlay/.../exact.go), where `count_documents` (an
    aggregation) reads and decodes every matching document."""
    command = {"count": collection.name, "query": filter_}
    if skip:
        command["skip"] = skip
    if limit:
        command["limit"] = limit
    return int(collection.database.command(command)["n"])


def trim_list(collection, doc: dict | None, field: str, *, keep: int, slack: int) -> None:
    """Bound a list that writers `$push` to, without `$push`/`$slice` (FerretDB 1.24 has
    no `$slice`): once `doc[field]` (the document as a write returned it) has grown
    `slack` past `keep`, cut it back to the newest `keep` in one write, and only if it is
    still the list just read, so an item a concurrent writer pushed meanwhile stays."""
    items = (doc or {}).get(field) or []
    if len(items) >= keep + slack:
        collection.update_one({"_id": doc["_id"], field: items},
                              {"$set": {field: items[-keep:]}})


def resumed(read: Callable[[int], Iterable[dict]], *, losses: int = CURSOR_LOSSES) -> Iterator[dict]:
    """Every document of a long read (an export streamed to a slow client), read again
    from where it broke off when the server lost its cursor: FerretDB drops a cursor
    whose connection closed (the driver closes its pool's connections after a network
    error on any of them), MongoDB one left idle for 10 minutes. `read(skip)` is the read
    past its first `skip` documents; a document that moved across that point meanwhile
    may then come twice or not at all, where giving up would lose the whole rest. Losses
    with documents read in between are each survived (seen: two in one export while the
    system worked through a 50,000-row import's events)."""
    done = lost = 0
    while True:
        started = done
        try:
            for doc in read(done):
                done += 1
                yield doc
            return
        except CursorNotFound:
            lost = lost + 1 if done == started else 1
            if lost > losses:
                raise
            log.warning("a long read lost its cursor after %d documents; reading on from "
                        "there (%d in a row, of %d)", done, lost, losses)
