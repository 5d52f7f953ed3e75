"""Customer use cases: load, apply the domain rules, save state + log + events at once.

`CustomerHandlers` is the one facade the API, the consumers and the jobs use; each
capability is its own module (records, ownership, lists, imports, contacts and
follow-ups, reclaim, reactions to other services' events), all standing on
`base.HandlerBase` (loading, visibility, the command runner, the directory's users).
"""
from services.customer.handlers.base import USER_WAIT_SECONDS  # noqa: F401
from services.customer.handlers.contacts import ContactHandlers
from services.customer.handlers.imports import ImportHandlers
from services.customer.handlers.lists import ListHandlers
from services.customer.handlers.ownership import OwnershipHandlers
from services.customer.handlers.reactions import ReactionHandlers
from services.customer.handlers.reclaim import ReclaimHandlers
from services.customer.handlers.records import RecordHandlers


class CustomerHandlers(RecordHandlers, OwnershipHandlers, ListHandlers, ImportHandlers,
                       ContactHandlers, ReclaimHandlers, ReactionHandlers):
    """Every use case of the customer service."""
