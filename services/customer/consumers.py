"""Events the customer service reacts to.

- opportunity.won: the customer becomes `deal`, `deal_amount` grows, `last_deal_on` is
  set (once per event id: `crmkit.bus.idempotent`, the id kept in the same write);
- task.completed with customer ids: a follow-up for each of those customers;
- user.created / user.updated: our copy of the directory (owners' team, region, name),
  and the denormalised owner fields of their customers follow a move or rename.
"""
from crmkit.bus.consumer import Subscriptions


def subscriptions(handlers, directory) -> Subscriptions:
    subs = Subscriptions()
    subs.on("opportunity.won")(handlers.on_opportunity_won)
    subs.on("task.completed")(handlers.on_task_completed)
    directory.subscribe(subs)
    return subs
