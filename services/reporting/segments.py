"""Who a segment is: name, team and region of an owner (from `user.*` events, or hints
from records until the user's own event arrives), or the region of a pool."""
from __future__ import annotations

from crmkit.bus.ordering import order_key


def directory_entry(segment: str) -> dict:
    entry = {"_id": segment, "owner_id": None, "name": None, "team": None, "region": None,
             "role": None, "active": True, "source": "hint", "k": None}
    if segment.startswith("p:"):
        entry["region"] = segment[2:] or None
        entry["source"] = "pool"
    else:
        entry["owner_id"] = segment[2:]
    return entry


def apply_user_event(entry: dict, envelope: dict) -> dict:
    """A user's profile (events.identity.UserProfileData), last writer wins."""
    data = envelope["data"]
    key = order_key(envelope)
    if entry.get("source") == "user" and entry.get("k") and key < entry["k"]:
        return entry
    return {**entry, "name": data["name"], "team": data["team"], "region": data["region"],
            "role": data["role"], "username": data["username"],
            "active": bool(data["active"]), "source": "user", "k": key}


def apply_hint(entry: dict, hint: dict, key: str) -> dict:
    """Team/region learnt from a record, used only until the user's own event arrives."""
    if entry.get("source") != "hint":
        return entry
    if entry.get("k") and key < entry["k"]:
        return entry
    changed = {name: value for name, value in hint.items() if value and entry.get(name) != value}
    if not changed:
        return entry
    return {**entry, **changed, "k": key}
