"""A customer's contacts (联系人): one of them is the primary contact, who needs a phone.

`ContactBook` is a part of the `Customer` aggregate (domain.py): editors add, change and
remove contacts; the change log and the contact.* events go with the customer's write.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from crmkit.clock import as_utc, utcnow
from crmkit.errors import Conflict, Invalid, NotFound
from crmkit.identity import Identity

from services.customer import fields as F
from services.customer.access import require_editor
from services.customer.entities import Contact


class ContactBook:
    """The contacts of `Customer`."""

    @property
    def primary_contact_entity(self) -> Contact | None:
        for contact in self.contacts:
            if contact.is_primary:
                return contact
        return self.contacts[0] if self.contacts else None

    @property
    def primary_contact(self) -> dict | None:
        contact = self.primary_contact_entity
        if contact is None:
            return None
        out = {"name": contact.name, "phone": contact.best_phone}
        if contact.email:
            out["email"] = contact.email
        if contact.title:
            out["title"] = contact.title
        return out

    def contact(self, contact_id: str) -> Contact:
        for contact in self.contacts:
            if contact.id == contact_id:
                return contact
        raise NotFound("Contact not found. / 联系人不存在。", code="not_found")

    def add_contact(self, actor: Identity, data: dict, *, contact_id: str,
                    now: datetime | None = None) -> Contact:
        require_editor(self, actor)
        now = as_utc(now or utcnow())
        values = F.clean_contact(data, partial=False)
        contact = Contact(id=contact_id, created_at=now, updated_at=now,
                          **{k: v for k, v in values.items() if v is not None})
        contact.relations = contact.relations or []
        if contact.is_primary and not contact.best_phone:
            raise Invalid("is_primary", "A primary contact needs a phone or mobile.")
        self.contacts.append(contact)
        if contact.is_primary:
            self._make_primary(contact)
        self.updated_at = now
        self._record(actor.user_id, "contact_created",
                     {f"contacts.{contact.id}": [None, contact.summary()]}, now)
        self._emit_contact("contact.created", contact)
        return contact

    def update_contact(self, actor: Identity, contact_id: str, data: dict, *,
                       now: datetime | None = None) -> Contact:
        require_editor(self, actor)
        now = as_utc(now or utcnow())
        contact = self.contact(contact_id)
        values = F.clean_contact(data, partial=True)
        before = contact.summary()
        make_primary = values.pop("is_primary", None)
        if make_primary is False and contact.is_primary:
            raise Conflict("Make another contact primary instead. / 请将其他联系人设为主联系人。",
                           code="primary_contact")
        if "relations" in values and values["relations"] is None:
            values["relations"] = []
        if "name" in values and not values["name"]:
            raise Invalid("name", F.REQUIRED)
        candidate = replace(contact, **values)
        if (contact.is_primary or make_primary) and not candidate.best_phone:
            raise Invalid("phone", "The primary contact needs a phone or mobile. "
                                   "/ 主联系人必须有电话。")
        for key, value in values.items():
            setattr(contact, key, value)
        if make_primary:
            self._make_primary(contact)
        after = contact.summary()
        if before == after and not values:
            return contact
        contact.updated_at = now
        self.updated_at = now
        self._record(actor.user_id, "contact_updated",
                     {f"contacts.{contact.id}": [before, after]}, now)
        self._emit_contact("contact.updated", contact)
        return contact

    def remove_contact(self, actor: Identity, contact_id: str, *,
                       now: datetime | None = None) -> None:
        require_editor(self, actor)
        now = as_utc(now or utcnow())
        contact = self.contact(contact_id)
        if contact.is_primary:
            raise Conflict("The primary contact cannot be deleted; make another contact "
                           "primary first. / 主联系人不能删除。", code="primary_contact")
        self.contacts = [c for c in self.contacts if c.id != contact_id]
        self.updated_at = now
        self._record(actor.user_id, "contact_deleted",
                     {f"contacts.{contact.id}": [contact.summary(), None]}, now)
        self._emit("contact.deleted", {"contact_id": contact.id, "customer_id": self.id})

    def _make_primary(self, chosen: Contact) -> None:
        for contact in self.contacts:
            contact.is_primary = contact is chosen

    def _emit_contact(self, event_type: str, contact: Contact) -> None:
        self._emit(event_type, {
            "contact_id": contact.id, "name": contact.name, "title": contact.title,
            "department": contact.department, "role": contact.role,
            "relationship": contact.relationship, "is_primary": contact.is_primary})
