"""HTTP entry points of the customer service: parse, call a handler, dump."""
from __future__ import annotations

from crmkit.clock import isoformat
from crmkit.idempotency import idempotent
from crmkit.web import ApiBlueprint, current_identity, json_response, parse_body

from services.customer.schemas import CustomerCreateSchema, CustomerOutSchema


def present(doc: dict) -> dict:
    return {"id": doc["_id"], "number": doc["number"], "name": doc["name"],
            "industry": doc["industry"], "status": doc["status"],
            "owner_id": doc["owner_id"], "region": doc.get("region"),
            "primary_contact": doc["primary_contact"], "shared_with": doc["shared_with"],
            "created_by": doc["created_by"], "version": doc["version"],
            "created_at": isoformat(doc["created_at"]), "updated_at": isoformat(doc["updated_at"])}


def customer_blueprint(handlers, idempotency) -> ApiBlueprint:
    api = ApiBlueprint("customers", __name__, tag="customers", url_prefix="/api/v1")

    @api.operation("/customers", "POST", summary="Create a customer", body=CustomerCreateSchema,
                   response=CustomerOutSchema, status=201)
    @idempotent(lambda: idempotency)
    def create_customer():
        command = parse_body(CustomerCreateSchema)
        doc = handlers.create_customer(command, current_identity())
        return json_response(present(doc), 201, version=doc["version"])

    @api.operation("/customers/<customer_id>", "GET", summary="Read a customer",
                   response=CustomerOutSchema)
    def get_customer(customer_id):
        doc = handlers.get_customer(customer_id, current_identity())
        return json_response(present(doc), version=doc["version"])

    return api
