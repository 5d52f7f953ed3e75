"""The merged OpenAPI: same-named schemas of two services stay apart, and every
operation documents its problem+json answers (issue 12, found by Schemathesis)."""
from __future__ import annotations

from gateway.docs import PublicDocs
from crmkit.web import PROBLEM_STATUSES, WRITE_PROBLEMS, ApiBlueprint


def _service_doc(entry_schema: dict, path: str) -> dict:
    return {"paths": {path: {"get": {"responses": {"200": {"content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/HistoryEntryOut"}}}}}}}},
        "components": {"schemas": {"HistoryEntryOut": entry_schema}}}


class _Client:
    def __init__(self, document):
        self.document = document

    def request(self, method, path):
        document = self.document

        class Reply:
            def json(self):
                return document
        return Reply()


def test_a_schema_name_two_services_use_differently_is_kept_apart():
    customer = {"type": "object", "properties": {"reason": {"type": "string"}}}
    opportunity = {"type": "object", "properties": {"to": {"type": "string"}}}
    docs = PublicDocs({"customer": _Client(_service_doc(customer, "/c")),
                       "opportunity": _Client(_service_doc(opportunity, "/o"))}, [])
    merged = docs.openapi()
    schemas = merged["components"]["schemas"]
    assert schemas["HistoryEntryOut"] == customer
    assert schemas["OpportunityHistoryEntryOut"] == opportunity
    ref = merged["paths"]["/o"]["get"]["responses"]["200"]["content"]["application/json"]
    assert ref["schema"] == {"$ref": "#/components/schemas/OpportunityHistoryEntryOut"}
    assert merged["paths"]["/c"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"] == {"$ref": "#/components/schemas/HistoryEntryOut"}


def test_every_operation_documents_its_problem_answers():
    blueprint = ApiBlueprint("things", __name__, tag="things", url_prefix="/api/v1")
    blueprint.endpoint_doc("/things", "GET", summary="List")
    blueprint.endpoint_doc("/things", "POST", summary="Add")
    merged = PublicDocs({}, [blueprint]).openapi()
    responses = merged["components"]["responses"]
    for method, operation in merged["paths"]["/api/v1/things"].items():
        for status in PROBLEM_STATUSES:
            documented = operation["responses"].get(str(status))
            if status in WRITE_PROBLEMS and method == "get":
                assert documented is None, (method, status)
                continue
            assert documented == {"$ref": f"#/components/responses/Problem{status}"}
            assert "application/problem+json" in responses[f"Problem{status}"]["content"]
