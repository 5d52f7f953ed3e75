"""What `crm up` answers, over real HTTP and gunicorn, for paths with encoded characters
and for over-long URIs and headers: problem+json from the gateway, never a 500 or
gunicorn's HTML page (deploy/README.md, "Request limits")."""
from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

PROBLEM = "application/problem+json"


def raw_get(crm, target: str, headers: dict | None = None):
    """A GET sent byte for byte as given (no client-side quoting or checks)."""
    address = urlsplit(crm.base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest("GET", target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        reply = connection.getresponse()
        return reply.status, reply.getheader("Content-Type"), reply.read()
    finally:
        connection.close()


def test_an_encoded_question_mark_is_a_404_problem_through_every_hop(crm, org):
    rep = org.user("rep")
    for path in ("/api/v1/customers/abc%3Fdef", "/api/v1/opportunities/x%3F",
                 "/api/v1/tasks/t%3Fpage=2", "/api/v1/customers/a%3Fb?page=1"):
        reply = rep.get(path)
        assert reply.status_code == 404, (path, reply)
        assert reply.headers["Content-Type"] == PROBLEM, (path, reply)


def test_too_long_uris_are_414_problems(crm):
    for length in (4050, 6000):
        status, content_type, body = raw_get(crm, "/api/v1/customers/" + "a" * length)
        assert status == 414, (length, body[:200])
        assert content_type == PROBLEM, (length, body[:200])
        assert json.loads(body)["code"] == "uri_too_long"


def test_too_large_headers_are_431_problems(crm):
    for headers in ({"X-Big": "x" * 9000}, {f"X-Many-{n}": "1" for n in range(120)}):
        status, content_type, body = raw_get(crm, "/api/v1/me", headers)
        assert status == 431, body[:200]
        assert content_type == PROBLEM, body[:200]
        assert json.loads(body)["code"] == "header_too_large"
