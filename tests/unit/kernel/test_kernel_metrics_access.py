"""/metrics is not public: a configured metrics bearer token, or whatever the app's own
`authorize` accepts (the gateway: an admin's access token)."""
from __future__ import annotations

from flask import Flask

from crmkit.errors import Forbidden
from crmkit.metrics import install_metrics
from crmkit.web import install_error_handlers

TOKEN = "m" * 8 + "-9f2c6d1e8b7a4c3f-metrics-token"


def app_with(**options):
    app = Flask("metrics-test")
    install_error_handlers(app)
    install_metrics(app, "metrics-test", **options)
    return app.test_client()


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_without_a_configured_token_nobody_reads_metrics():
    client = app_with()
    for headers in ({}, bearer(""), bearer("anything"), bearer("None")):
        reply = client.get("/metrics", headers=headers)
        assert reply.status_code == 401
        assert reply.content_type == "application/problem+json"
        assert reply.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_metrics_token_reads_them_and_nothing_else_does():
    client = app_with(token=TOKEN)
    reply = client.get("/metrics", headers=bearer(TOKEN))
    assert reply.status_code == 200
    assert reply.content_type.startswith("text/plain")
    assert b"crm_http_request_seconds" in reply.data
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(TOKEN + "x")).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401


def test_authorize_decides_for_other_credentials():
    def authorize(header):
        if header == "Bearer admin":
            return
        raise Forbidden("admins only", code="admin_required")

    client = app_with(token=TOKEN, authorize=authorize)
    assert client.get("/metrics", headers=bearer("admin")).status_code == 200
    assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 200
    refused = client.get("/metrics", headers=bearer("rep"))
    assert refused.status_code == 403 and refused.json["code"] == "admin_required"
    assert client.get("/metrics").status_code == 401
