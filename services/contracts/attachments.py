"""Attachments on contracts: the signed scan and other documents (CONTRACT §10; the one
implementation is crmkit.attachments). Whoever may see a contract reads its attachments;
whoever may edit it (owner, superiors, admins: services.contracts.access) attaches and
deletes, as a sharee only reads the contract."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore, attachment_routes
from crmkit.web import ApiBlueprint

from services.contracts.access import can_edit


def blueprint(handlers, store: AttachmentStore, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("contract_attachments", __name__, tag="attachments", url_prefix="/api/v1")
    attachment_routes(api, store, parent="contract", rule="/contracts/<contract_id>",
                      load=lambda viewer, contract_id: handlers.get_contract(contract_id, viewer),
                      may_edit=can_edit, may_upload=can_edit, idempotency=idempotency)
    return api
