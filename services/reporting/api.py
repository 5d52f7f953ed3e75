"""HTTP entry points of the reporting service."""
from __future__ import annotations

from crmkit.visibility import visibility_filter
from crmkit.web import ApiBlueprint, current_identity, json_response


def reports_blueprint(repository) -> ApiBlueprint:
    api = ApiBlueprint("reports", __name__, tag="reports", url_prefix="/api/v1")

    @api.operation("/reports/summary", "GET", summary="Headline figures the caller may see")
    def summary():
        viewer = current_identity()
        visible = visibility_filter(viewer, shared_field=None)
        return json_response({
            "customers": repository.count_customers(visible),
            "customers_in_pool": repository.count_customers({"owner_id": None}),
            "opportunities_open": 0, "pipeline_amount": "0.00", "won_amount": "0.00",
            "tasks_open": 0})

    return api
