"""Reporting consumes every event (binds "#"): it keeps each one, then projects it."""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions


def subscriptions(handlers) -> Subscriptions:
    return Subscriptions(catch_all=handlers.on_event)
