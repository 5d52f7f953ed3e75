"""The lists: the caller's customers, the pool (every customer's public view), the
export."""
from __future__ import annotations

from collections.abc import Iterator

from crmkit.identity import Identity

from services.customer.domain import Customer
from services.customer.handlers.base import HandlerBase
from services.customer.repository import Page

# The export streams (rows leave as they are read, memory stays flat), so it may cover
# the whole of a large organisation's customers.
EXPORT_LIMIT = 250_000


class ListHandlers(HandlerBase):
    def list_customers(self, query: dict, viewer: Identity) -> Page:
        """A page of the customers `viewer` sees."""
        return self.repository.list_page(viewer, query, tz=self.tz)

    def pool(self, query: dict, viewer: Identity) -> Page:
        """Every customer's public view. It lists customers the caller may not see in
        full: they are sorted by public fields only, and a filter or search reading a
        private field finds only those the caller does see in full."""
        return self.repository.pool_page(viewer, query, tz=self.tz)

    def export_rows(self, query: dict, viewer: Identity) -> Iterator[Customer]:
        """What the list would show, all pages, read from the database as it is sent."""
        return self.repository.export_rows(viewer, query, tz=self.tz, limit=EXPORT_LIMIT)
