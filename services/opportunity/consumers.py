"""Events the opportunity service reacts to.

- customer.* : the service's own read model of customers (customers.py), then the
  customer's opportunities are made to agree with it (owner, sharees, name, region).
- user.created / user.updated : the user directory copy (team/region of owners).
- pipeline.updated (our own): opportunities whose probability follows their stage take
  the stage's new default.
Every handler is idempotent: the read model orders events by stamps, moving an
opportunity is a no-op once it agrees, and each write is conditional on a version.
"""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions

from services.opportunity.customers import CUSTOMER_EVENTS, TO_POOL


def subscriptions(service, directory) -> Subscriptions:
    subs = Subscriptions()
    for event_type in sorted(set(CUSTOMER_EVENTS) | set(TO_POOL)):
        subs.on(event_type)(service.on_customer_event)
    directory.subscribe(subs)
    subs.on("pipeline.updated")(service.rebase_probabilities)
    return subs
