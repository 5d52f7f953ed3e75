"""Events the customer service reacts to (the customer issue adds them)."""
from crmkit.bus.consumer import Subscriptions


def subscriptions(handlers) -> Subscriptions:
    return Subscriptions()
