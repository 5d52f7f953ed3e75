"""What quotes and contracts share: a status machine, `version` raised by the domain on
each change, and events that carry the record's snapshot."""
from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from crmkit.errors import Conflict, Invalid
from crmkit.events import DomainEvent


class Lifecycle:
    KIND: ClassVar[str]                                  # "quote": events are quote.*
    NOUN_ZH: ClassVar[str]                               # "报价"
    TRANSITIONS: ClassVar[dict[str, frozenset[str]]]     # status -> where it may go

    def move_to(self, status: str, *, now: datetime) -> None:
        if status not in self.TRANSITIONS:
            raise Invalid("status", f"One of: {', '.join(self.TRANSITIONS)}.")
        if status not in self.TRANSITIONS[self.status]:
            raise Conflict(f"A {self.status} {self.KIND} cannot become {status}. "
                           f"/ {self.NOUN_ZH}状态不能从 {self.status} 变为 {status}。",
                           code="invalid_transition")
        previous, self.status = self.status, status
        self._touch(now)
        self._record(f"{self.KIND}.status_changed", {"from": previous, "to": status})

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1

    def _record(self, event_type: str, extra: dict) -> None:
        self.events.append(DomainEvent(type=event_type, aggregate_id=self.id,
                                       data={**self.snapshot(), **extra},
                                       region=self.region))
