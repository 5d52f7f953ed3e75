"""Events the opportunity service reacts to.

- customer.* : the service's own copy of customers (customers.py), then the customer's
  opportunities are made to agree with it (owner, sharees, name, region).
- contact.created / contact.deleted : the copy's list of the customer's contact ids (an
  opportunity's contact_id must be one of them).
- user.created / user.updated : the user directory copy (team/region of owners).
- pipeline.updated (our own): opportunities whose probability follows their stage take
  the stage's new default.
Every handler is idempotent: the customer copy applies an event once and only if it is
newer (`crmkit.bus.idempotent.apply_once`, `crmkit.bus.ordering.order_key`), moving an
opportunity is a no-op once it agrees, and each write is conditional on a version.
"""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions

from services.opportunity.customers import CONTACT_EVENTS, CUSTOMER_EVENTS


def subscriptions(handlers, directory) -> Subscriptions:
    subs = Subscriptions()
    for event_type in (*CUSTOMER_EVENTS, *CONTACT_EVENTS):
        subs.on(event_type)(handlers.on_customer_event)
    directory.subscribe(subs)
    subs.on("pipeline.updated")(handlers.rebase_probabilities)
    return subs
