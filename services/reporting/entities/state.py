"""An entity's state: the latest-known value of each field with the order key
(`crmkit.bus.ordering.order_key`) of the event that set it."""
from __future__ import annotations


def new_state(entity_type: str, entity_id: str) -> dict:
    return {"_id": f"{entity_type}:{entity_id}", "type": entity_type, "id": entity_id,
            "f": {}, "t": {}, "reached": [], "first": None, "seen": [], "applied": []}


def set_field(state: dict, field: str, value, key: str) -> None:
    """Last writer wins by order key; an equal key (the same event again) is a no-op."""
    current = state["t"].get(field)
    if current is None or key >= current:
        state["f"][field] = value
        state["t"][field] = key


def reach(state: dict, *stages) -> None:
    """The set of stages an opportunity ever reached only grows."""
    for stage in stages:
        if stage and stage not in state["reached"]:
            state["reached"].append(stage)
    state["reached"].sort()


def first_day(state) -> str | None:
    """The day of the first event seen about the entity (UTC), until it says better."""
    return state.get("first", "")[:10] if state.get("first") else None
