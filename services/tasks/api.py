"""HTTP entry points of the tasks service (skeleton)."""
from crmkit.web import ApiBlueprint


def blueprint() -> ApiBlueprint:
    return ApiBlueprint("tasks", __name__, tag="tasks", url_prefix="/api/v1")
