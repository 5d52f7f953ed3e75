"""The lists: the caller's customers, the pool (every customer's public view), the
export."""
from __future__ import annotations

from crmkit.identity import Identity

from services.customer.handlers.base import HandlerBase

EXPORT_LIMIT = 100_000


class ListHandlers(HandlerBase):
    def list_customers(self, query: dict, viewer: Identity) -> tuple[list[dict], int]:
        """A page of the customers `viewer` sees, as stored (`documents.customer_from`
        makes each a Customer)."""
        return self.repository.list_page(viewer, query, tz=self.tz)

    def pool(self, query: dict, viewer: Identity) -> tuple[list[dict], int]:
        """Every customer's public view. It lists customers the caller may not see in
        full: they are sorted by public fields only, and a filter or search reading a
        private field finds only those the caller does see in full."""
        return self.repository.pool_page(viewer, query, tz=self.tz)

    def export_rows(self, query: dict, viewer: Identity) -> list[dict]:
        return self.repository.export_rows(viewer, query, tz=self.tz, limit=EXPORT_LIMIT)
