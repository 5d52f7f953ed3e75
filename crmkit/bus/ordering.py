"""The one ordering rule for consumed events: which of two events about one entity is
newer. Every consumer that keeps a copy of another service's state keeps, per field or
per part, the order key of the event that last set it, and lets an event change only
what it is newer for. With `crmkit.bus.idempotent.apply_once` (an event applies at most
once) this makes duplicates and out-of-order delivery end where in-order delivery ends.
"""
from __future__ import annotations

from datetime import datetime, timezone


def order_key(envelope: dict, *, creation: bool = False) -> str:
    """Total order of events on one entity, as text that sorts in that order: the
    aggregate's version when the producer states it (immune to clock skew between its
    replicas), then occurred_at (UTC, fixed width), then the event id.

    A creation event sorts before any other event of the same version: nothing about an
    entity happens before its creation, whatever a skewed clock stamped."""
    data = envelope.get("data") or {}
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        version = 0
    occurred = "" if creation else (utc_text(envelope.get("occurred_at")) or "")
    return f"{version:012d}|{0 if creation else 1}|{occurred}|{envelope.get('id') or ''}"


def parse_instant(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def utc_text(value) -> str | None:
    """An instant as fixed-width UTC text, so that string order is time order."""
    moment = parse_instant(value)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if moment else None

