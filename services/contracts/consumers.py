"""Events the contracts service reacts to.

- customer.* : the copy of customers (ownership.CustomerCopy); the customer's quotes and
  contracts then take its owner, sharees, name and region.
- opportunity.* : the copy of opportunities (which customer each is for); a won one's
  `won.contract_number` also becomes a draft contract (handlers.draft_from_win).
- user.created / user.updated : the user directory copy (team/region of owners).
Every handler is idempotent: a copy applies an event once and only if it is newer
(`apply_once` + `order_key`), syncing records is a no-op once they agree, and the draft
contract of a win has an id derived from the opportunity.
"""
from __future__ import annotations

from crmkit.bus.consumer import Subscriptions

from services.contracts.ownership import CUSTOMER_EVENTS, OPPORTUNITY_EVENTS


def subscriptions(handlers, directory) -> Subscriptions:
    subs = Subscriptions()
    for event_type in CUSTOMER_EVENTS:
        subs.on(event_type)(handlers.on_customer_event)
    for event_type in OPPORTUNITY_EVENTS:
        subs.on(event_type)(handlers.on_opportunity_event)
    directory.subscribe(subs)
    return subs
