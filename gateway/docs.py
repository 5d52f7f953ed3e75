"""The public documents the gateway serves: the merged OpenAPI and the AsyncAPI catalog."""
from __future__ import annotations

import logging
import time

from crmkit.catalog import asyncapi_document, producer_events
from crmkit.web import openapi_document

log = logging.getLogger(__name__)


class PublicDocs:
    def __init__(self, clients: dict, own_blueprints, *, ttl: float = 60.0):
        self._clients = clients
        self._own_blueprints = own_blueprints
        self._ttl = ttl
        self._cache: dict[str, tuple[float, dict]] = {}

    def _cached(self, key, build):
        hit = self._cache.get(key)
        if hit and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        value = build()
        self._cache[key] = (time.monotonic(), value)
        return value

    def openapi(self) -> dict:
        return self._cached("openapi", self._merge_openapi)

    def catalog(self) -> dict:
        return self._cached("catalog", self._merge_catalog)

    def _merge_openapi(self) -> dict:
        merged = openapi_document("CRM API", list(self._own_blueprints))
        merged["info"]["description"] = (
            "The public HTTP API of the CRM, behind one gateway. Errors are "
            "application/problem+json with a machine `code`.")
        merged["servers"] = [{"url": "/"}]
        for name, client in self._clients.items():
            try:
                document = client.request("GET", "/openapi.json").json()
            except Exception as error:  # a service that is down leaves a gap, not a 500
                log.warning("no OpenAPI from %s: %r", name, error)
                continue
            merged["paths"].update(document.get("paths", {}))
            schemas = merged.setdefault("components", {}).setdefault("schemas", {})
            for schema_name, schema in document.get("components", {}).get("schemas", {}).items():
                schemas.setdefault(schema_name, schema)
        return merged

    def _merge_catalog(self) -> dict:
        events = list(producer_events("gateway"))
        for name, client in self._clients.items():
            try:
                events.extend(client.request("GET", "/events/catalog.json").json()["events"])
            except Exception as error:
                log.warning("no event catalog from %s: %r", name, error)
        return asyncapi_document(events)
