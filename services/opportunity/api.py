"""HTTP entry points of the opportunity service (skeleton)."""
from crmkit.web import ApiBlueprint


def blueprint() -> ApiBlueprint:
    return ApiBlueprint("opportunity", __name__, tag="opportunity", url_prefix="/api/v1")
