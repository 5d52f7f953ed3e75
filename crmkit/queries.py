"""Small helpers for building MongoDB filters out of optional parts."""
from __future__ import annotations


def all_of(clauses) -> dict:
    """AND of the non-empty clauses; {} (everything) when none is left."""
    present = [clause for clause in clauses if clause]
    if not present:
        return {}
    return present[0] if len(present) == 1 else {"$and": present}
