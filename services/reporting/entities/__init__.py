"""The entities the read models keep, one module per kind: which events are about it
(`EVENTS`, `entity_id`), how an event changes its state (`apply`), what it contributes
to the counters (`contributions`), whose figures they are (`segment`) and what it tells
about its owner until the user's own event arrives (`hint`)."""
from __future__ import annotations

from services.reporting.entities import customer, interaction, opportunity, task

KINDS = {"opportunity": opportunity, "customer": customer, "interaction": interaction,
         "task": task}


def entity_ref(envelope: dict) -> tuple[str, str] | None:
    """Which read-model entity an event is about (None: no figure depends on it)."""
    for name, kind in KINDS.items():
        if envelope["type"] in kind.EVENTS:
            return name, str(kind.entity_id(envelope["data"]))
    return None
