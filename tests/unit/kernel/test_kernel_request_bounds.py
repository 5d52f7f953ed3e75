"""Every collection a client can send has a declared maximum size: each list or mapping
field of every request schema (bodies and queries of every documented operation, in
every service and the gateway) carries a validate.Length with a max, which the kernel's
`load` checks before it reads any item."""
from __future__ import annotations

import pytest
from marshmallow import Schema, fields, validate

from gateway.identity.api import blueprint as identity_blueprint
from services.customer.api import blueprint as customer_blueprint
from services.opportunity.api import blueprint as opportunity_blueprint
from services.reporting.api import blueprint as reports_blueprint
from services.tasks.api import blueprint as tasks_blueprint


def _blueprints():
    # Building a blueprint only registers its routes: no adapter is touched.
    return [customer_blueprint(None, None), opportunity_blueprint(object(), None),
            reports_blueprint(None), tasks_blueprint(None, None),
            identity_blueprint(None, None)]


def _request_schemas():
    for blueprint in _blueprints():
        for op in blueprint.operations:
            for schema in (op.body, op.query):
                if schema is not None:
                    yield f"{op.method.upper()} {op.path}", schema


def _unbounded(schema: Schema, prefix: str = "") -> list[str]:
    found = []
    for name, field in schema.load_fields.items():
        path = f"{prefix}{field.data_key or name}"
        collection = isinstance(field, (fields.List, fields.Mapping)) or (
            isinstance(field, fields.Nested) and field.many)
        if collection and not any(isinstance(v, validate.Length) and v.max is not None
                                  for v in field.validators):
            found.append(path)
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            found += _unbounded(inner.schema, f"{path}.")
    return found


def test_the_operations_are_found():
    names = [name for name, _ in _request_schemas()]
    assert "POST /api/v1/customers" in names and "POST /api/v1/auth/login" in names
    assert "PUT /api/v1/pipeline" in names and "POST /api/v1/tasks/bulk" in names


@pytest.mark.parametrize("operation, schema", list(_request_schemas()),
                         ids=lambda value: value if isinstance(value, str) else "")
def test_every_collection_of_a_request_has_a_maximum(operation, schema):
    instance = schema() if isinstance(schema, type) else schema
    assert _unbounded(instance) == []
