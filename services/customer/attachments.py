"""Attachments on customers and on their follow-ups (CONTRACT §10; the one
implementation is crmkit.attachments). Seen by whoever sees the customer in full (its
owner, sharees, the owner's superiors, admins: a customer in the pool shows its public
view only, so its attachments are 403 like its contacts); deleted by the customer's
editors and by their uploader."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore, attachment_routes
from crmkit.web import ApiBlueprint

from services.customer.access import can_edit, require_full


def blueprint(handlers, store: AttachmentStore, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("customer_attachments", __name__, tag="attachments",
                       url_prefix="/api/v1")

    def customer(viewer, customer_id):
        found, seen = handlers.get_customer(customer_id, viewer)
        require_full(seen)
        return found

    def interaction(viewer, customer_id, interaction_id):
        return handlers.interaction(customer_id, interaction_id, viewer)[0]

    def may_edit(viewer, found) -> bool:
        return can_edit(found, viewer)

    attachment_routes(api, store, parent="customer", rule="/customers/<customer_id>",
                      load=customer, may_edit=may_edit, idempotency=idempotency)
    attachment_routes(api, store, parent="interaction",
                      rule="/customers/<customer_id>/interactions/<interaction_id>",
                      load=interaction, may_edit=may_edit, idempotency=idempotency)
    return api
