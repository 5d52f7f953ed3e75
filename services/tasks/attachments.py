"""Attachments on tasks (photos of a visit, documents; CONTRACT §10, the one
implementation is crmkit.attachments). Whoever may see a task works on it
(services.tasks.access): they add, read and delete its attachments."""
from __future__ import annotations

from crmkit.attachments import AttachmentStore, attachment_routes
from crmkit.web import ApiBlueprint

from services.tasks.access import can_edit


def blueprint(handlers, store: AttachmentStore, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("task_attachments", __name__, tag="attachments", url_prefix="/api/v1")
    attachment_routes(api, store, parent="task", rule="/tasks/<task_id>",
                      load=lambda viewer, task_id: handlers.get(viewer, task_id),
                      may_edit=can_edit, idempotency=idempotency)
    return api
