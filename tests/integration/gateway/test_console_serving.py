"""The gateway serves the built console (gateway/console.py) with a tiny fake dist dir."""
from __future__ import annotations

import pytest
from flask import Flask, jsonify

from gateway.console import install_console


def make_app(dist):
    app = Flask("console-test")

    @app.get("/api/v1/ping")
    def ping():
        return jsonify(ok=True)

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    install_console(app, dist)
    return app.test_client()


@pytest.fixture
def dist(tmp_path):
    (tmp_path / "assets").mkdir()
    (tmp_path / "index.html").write_text(
        '<!doctype html><html><head><script type="module" src="/assets/index-abc123.js">'
        "</script></head><body><div id=app></div></body></html>")
    (tmp_path / "assets" / "index-abc123.js").write_text("console.log('hi')")
    (tmp_path / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return tmp_path


HTML = {"Accept": "text/html,application/xhtml+xml"}


def test_index_is_not_cached_and_has_a_strict_csp(dist):
    client = make_app(dist)
    reply = client.get("/", headers=HTML)
    assert reply.status_code == 200
    assert b'<div id=app>' in reply.data
    assert reply.headers["Cache-Control"] == "no-cache"
    csp = reply.headers["Content-Security-Policy"]
    for part in ("script-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
                 "base-uri 'self'"):
        assert part in csp
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_hashed_assets_are_cached_for_a_year(dist):
    client = make_app(dist)
    reply = client.get("/assets/index-abc123.js")
    assert reply.status_code == 200
    assert reply.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "javascript" in reply.headers["Content-Type"]
    assert client.get("/assets/missing-000.js").status_code == 404
    assert client.get("/assets/../index.html").status_code == 404


def test_client_routes_fall_back_to_index(dist):
    client = make_app(dist)
    for route in ("/customers", "/customers/abc/edit", "/login?redirect=/tasks"):
        reply = client.get(route, headers=HTML)
        assert reply.status_code == 200, route
        assert b'<div id=app>' in reply.data
        assert reply.headers["Cache-Control"] == "no-cache"
        assert "Content-Security-Policy" in reply.headers
    # not HTML: no fallback
    assert client.get("/customers", headers={"Accept": "application/json"}).status_code == 404
    assert client.get("/customers", headers={"Accept": "*/*"}).status_code == 404
    assert client.get("/", headers={"Accept": "*/*"}).status_code == 200
    # top-level static files are served as files
    assert client.get("/favicon.svg").status_code == 200


def test_api_and_health_are_untouched(dist):
    client = make_app(dist)
    assert client.get("/api/v1/ping", headers=HTML).json == {"ok": True}
    assert client.get("/healthz", headers=HTML).json == {"status": "ok"}
    assert client.get("/api/v1/nothing-here", headers=HTML).status_code == 404
    assert b"<div id=app>" not in client.get("/api/v1/nothing-here", headers=HTML).data
    assert client.get("/metrics", headers=HTML).status_code == 404


def test_missing_build_says_how_to_build_it(tmp_path):
    client = make_app(tmp_path / "no-dist")
    reply = client.get("/", headers=HTML)
    assert reply.status_code == 200
    text = reply.get_data(as_text=True)
    assert "npm ci --prefix console" in text and "npm run build --prefix console" in text
    assert "控制台尚未构建" in text and "not built" in text
    assert client.get("/customers", headers=HTML).status_code == 200
    assert client.get("/api/v1/ping").json == {"ok": True}
