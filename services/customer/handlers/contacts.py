"""A customer's contacts and its follow-up records (跟进记录)."""
from __future__ import annotations

from crmkit.clock import as_utc
from crmkit.errors import Invalid
from crmkit.errors import NotFound
from crmkit.identity import Identity

from services.customer.access import require_full
from services.customer.domain import Customer
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
        self.require_dictionary({"relations": data.get("relations")})
        customer, _ = self.change(customer_id, actor, lambda c: c.add_contact(
            actor, data, contact_id=contact_id, now=self.now()))
        return customer.contact(contact_id)

    def update_contact(self, customer_id: str, contact_id: str, data: dict,
                       actor: Identity) -> Contact:
        self.require_dictionary({"relations": data.get("relations")})
        customer, _ = self.change(customer_id, actor, lambda c: c.update_contact(
            actor, contact_id, data, now=self.now()))
        return customer.contact(contact_id)

    def remove_contact(self, customer_id: str, contact_id: str, actor: Identity) -> None:
        self.change(customer_id, actor, lambda c: c.remove_contact(
            actor, contact_id, now=self.now()))

    # ---- follow-ups

    def log_interaction(self, customer_id: str, data: dict, actor: Identity) -> Interaction:
        self._require_known_participants(data)
        interaction_id = new_id()
        _, interaction = self.change(customer_id, actor, lambda c: c.log_interaction(
            actor, data, interaction_id=interaction_id, now=self.now()))
        return interaction

    def edit_interaction(self, customer_id: str, interaction_id: str, data: dict,
                         actor: Identity) -> Interaction:
        self._require_known_participants(data)
        _, interaction = self.change(customer_id, actor, lambda c: c.edit_interaction(
            actor, interaction_id, data, now=self.now()), with_interactions=True)
        return interaction

    def delete_interaction(self, customer_id: str, interaction_id: str,
                           actor: Identity) -> None:
        self.change(customer_id, actor, lambda c: c.delete_interaction(
            actor, interaction_id, now=self.now()), with_interactions=True)

    def _require_known_participants(self, data: dict) -> None:
        """我方参与人 are users of ours: 422 naming `participants` for any unknown one."""
        ids = data.get("participants") or []
        if not isinstance(ids, list):
            return          # the domain names the field
        unknown = []
        for user_id in dict.fromkeys(i for i in ids if isinstance(i, str)):
            try:
                self.user(user_id, "participants")
            except Invalid:
                unknown.append(user_id)
        if unknown:
            raise Invalid("participants", f"Unknown or inactive users: {', '.join(unknown)}. "
                                          f"/ 用户不存在或已停用:{'、'.join(unknown)}。",
                          code="unknown_user")

    def interactions(self, customer_id: str, viewer: Identity, *, page: int = 1,
                     per_page: int = 20) -> tuple[list[Interaction], int]:
        """A page of the follow-ups, newest first, and how many there are."""
        _, seen = self.load_visible(customer_id, viewer)
        require_full(seen)
        items = self.repository.interactions(customer_id)
        items.sort(key=lambda i: (as_utc(i.occurred_at), as_utc(i.created_at)), reverse=True)
        start = (page - 1) * per_page
        return items[start:start + per_page], len(items)

    def interaction(self, customer_id: str, interaction_id: str,
                    viewer: Identity) -> tuple[Customer, Interaction]:
        """One follow-up, for whoever sees its customer in full (404 otherwise)."""
        customer, seen = self.load_visible(customer_id, viewer)
        require_full(seen)
        found = next((i for i in self.repository.interactions(customer_id)
                      if i.id == interaction_id), None)
        if found is None:
            raise NotFound("Follow-up not found. / 跟进记录不存在。", code="not_found")
        return customer, found
