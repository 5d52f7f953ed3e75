"""Small helpers for MongoDB filters: building them out of optional parts, counting them."""
from __future__ import annotations


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
