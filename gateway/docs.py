"""The public documents the gateway serves: the merged OpenAPI and the AsyncAPI catalog."""
from __future__ import annotations

import json
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
            document = _without_name_clashes(document, merged, name)
            merged["paths"].update(document.get("paths", {}))
            # schemas, the shared problem responses, security schemes
            for kind, entries in document.get("components", {}).items():
                known = merged.setdefault("components", {}).setdefault(kind, {})
                for entry_name, entry in entries.items():
                    known.setdefault(entry_name, entry)
        return merged

    def _merge_catalog(self) -> dict:
        # Every event's contract is in the `events` package: no need to ask the services,
        # and one that is down leaves no gap.
        return asyncapi_document(producer_events())


def _without_name_clashes(document: dict, merged: dict, service: str) -> dict:
    """`document` with each of its component schemas whose name another service already
    uses for a different schema (e.g. two `HistoryEntryOut`s) renamed after `service`,
    and the references to it with it: one shared name would document one service's
    responses with the other's schema."""
    known = merged.get("components", {}).get("schemas", {})
    clashes = [name for name, schema in document.get("components", {}).get("schemas", {})
               .items() if name in known and known[name] != schema]
    if not clashes:
        return document
    text = json.dumps(document)
    for name in clashes:
        text = text.replace(f'"#/components/schemas/{name}"',
                            f'"#/components/schemas/{service.title()}{name}"')
    renamed = json.loads(text)
    schemas = renamed["components"]["schemas"]
    for name in clashes:
        schemas[f"{service.title()}{name}"] = schemas.pop(name)
    return renamed
