"""Attachments on opportunities (quotes, draft contracts; CONTRACT §10, the one
implementation is crmkit.attachments). Seen by whoever may read the opportunity; added
by whoever may change it (its sharees read only); deleted by them and by the uploader."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore, attachment_routes
from crmkit.web import ApiBlueprint

from services.opportunity.access import can_edit


def blueprint(handlers, store: AttachmentStore, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("opportunity_attachments", __name__, tag="attachments",
                       url_prefix="/api/v1")
    attachment_routes(api, store, parent="opportunity", rule="/opportunities/<opportunity_id>",
                      load=lambda viewer, opportunity_id: handlers.get(opportunity_id, viewer),
                      may_edit=can_edit, may_upload=can_edit, idempotency=idempotency)
    return api
