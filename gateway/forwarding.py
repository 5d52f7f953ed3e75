"""The gateway's own API routes besides identity: forwarding every other /api/v1 request
to the service that owns it, and the merged public documents."""
from __future__ import annotations

from flask import Response, g, request

from crmkit.config import SERVICES
from crmkit.errors import Invalid, NotFound
from crmkit.web import ApiBlueprint, json_body, json_response
from gateway.docs import PublicDocs
from gateway.proxy import (API, FORWARDED_REQUEST_HEADERS, PUBLIC_PATHS, RETURNED_HEADERS,
                           owning_service)

DEAD_LETTERS = f"{API}/admin/dead-letters"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def blueprint(identity, clients: dict) -> ApiBlueprint:
    """`identity`: the IdentityComponent that authenticates what is forwarded; `clients`:
    service name -> its client (gateway.proxy)."""
    bp = ApiBlueprint("forwarding", __name__, tag="gateway")
    docs = PublicDocs(clients, [identity.blueprint])

    @bp.route(f"{API}/<path:rest>", methods=METHODS)
    def api(rest):
        path = request.path
        client = clients.get(_target_service(path))
        if client is None:
            raise NotFound("No such resource.", code="not_found")
        # .get: a missing header looked up with `in` costs an exception each
        headers = {name: value for name in FORWARDED_REQUEST_HEADERS
                   if (value := request.headers.get(name)) is not None}
        headers["X-Request-ID"] = g.request_id
        headers["X-Forwarded-For"] = request.remote_addr or ""
        # what the client called, so services can build public links (calendar feed)
        headers["X-Forwarded-Host"] = request.host
        headers["X-Forwarded-Proto"] = request.scheme
        if not path.startswith(PUBLIC_PATHS):
            caller = identity.authenticate_forwarded(request.headers.get("Authorization"),
                                                     request.method, path)
            headers["Authorization"] = f"Bearer {caller.internal_token}"
        reply = client.request(request.method, path, query=request.query_string.decode(),
                               headers=headers, body=request.get_data())
        response = Response(reply.content, status=reply.status)
        for name in RETURNED_HEADERS:
            value = reply.headers.get(name)
            if value is not None:
                response.headers[name] = value
        return response

    @bp.get(f"{API}/openapi.json")
    def openapi():
        return json_response(docs.openapi())

    @bp.get(f"{API}/events/catalog")
    def events_catalog():
        return json_response(docs.catalog())

    return bp


def _target_service(path: str) -> str | None:
    if path == DEAD_LETTERS or path == f"{DEAD_LETTERS}/replay":
        service = request.args.get("service")
        if service is None and request.method == "POST":
            body = json_body()   # bounded and checked like every body, before authenticating
            service = body.get("service") if isinstance(body, dict) else None
        if service not in SERVICES:
            raise Invalid("service", f"One of: {', '.join(SERVICES)}.")
        return service
    return owning_service(path)
