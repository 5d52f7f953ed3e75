"""Small helpers for building MongoDB filters out of optional parts."""
from __future__ import annotations


def all_of(clauses) -> dict:
    """AND of the non-empty clauses; {} (everything) when none is left."""
    present = [clause for clause in clauses if clause]
    if not present:
        return {}
    return present[0] if len(present) == 1 else {"$and": present}


def trim_list(collection, doc: dict | None, field: str, *, keep: int, slack: int) -> None:
    """Bound a list that writers `$push` to, without `$push`/`$slice` (FerretDB 1.24 has
    no `$slice`): once `doc[field]` (the document as a write returned it) has grown
    `slack` past `keep`, cut it back to the newest `keep` in one write, and only if it is
    still the list just read, so an item a concurrent writer pushed meanwhile stays."""
    items = (doc or {}).get(field) or []
    if len(items) >= keep + slack:
        collection.update_one({"_id": doc["_id"], field: items},
                              {"$set": {field: items[-keep:]}})
