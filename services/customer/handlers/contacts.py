"""A customer's contacts and its follow-up records (跟进记录)."""
from __future__ import annotations

from crmkit.clock import as_utc
from crmkit.identity import Identity

from services.customer.access import require_full
from services.customer.entities import Contact, Interaction
from services.customer.handlers.base import HandlerBase, new_id


class ContactHandlers(HandlerBase):
    def contacts(self, customer_id: str, viewer: Identity) -> list[Contact]:
        customer, seen = self.load_visible(customer_id, viewer)
        require_full(seen)
        return list(customer.contacts)

    def contact(self, customer_id: str, contact_id: str, viewer: Identity) -> Contact:
        customer, seen = self.load_visible(customer_id, viewer)
        require_full(seen)
        return customer.contact(contact_id)

    def add_contact(self, customer_id: str, data: dict, actor: Identity) -> Contact:
        contact_id = new_id()
        customer, _ = self.change(customer_id, actor, lambda c: c.add_contact(
            actor, data, contact_id=contact_id, now=self.now()))
        return customer.contact(contact_id)

    def update_contact(self, customer_id: str, contact_id: str, data: dict,
                       actor: Identity) -> Contact:
        customer, _ = self.change(customer_id, actor, lambda c: c.update_contact(
            actor, contact_id, data, now=self.now()))
        return customer.contact(contact_id)

    def remove_contact(self, customer_id: str, contact_id: str, actor: Identity) -> None:
        self.change(customer_id, actor, lambda c: c.remove_contact(
            actor, contact_id, now=self.now()))

    # ---- follow-ups

    def log_interaction(self, customer_id: str, data: dict, actor: Identity) -> Interaction:
        interaction_id = new_id()
        _, interaction = self.change(customer_id, actor, lambda c: c.log_interaction(
            actor, data, interaction_id=interaction_id, now=self.now()))
        return interaction

    def interactions(self, customer_id: str, viewer: Identity, *, page: int = 1,
                     per_page: int = 20) -> tuple[list[Interaction], int]:
        """A page of the follow-ups, newest first, and how many there are."""
        _, seen = self.load_visible(customer_id, viewer)
        require_full(seen)
        items = self.repository.interactions(customer_id)
        items.sort(key=lambda i: (as_utc(i.occurred_at), as_utc(i.created_at)), reverse=True)
        start = (page - 1) * per_page
        return items[start:start + per_page], len(items)
