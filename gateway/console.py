"""Serving the built web console (console/dist) at `/`.

- `/assets/*`: content-hashed files, cached for a year (`immutable`).
- `index.html` (and any client route: a GET outside /api that accepts HTML) with
  `no-cache` and a strict Content-Security-Policy.
- Where console/dist is missing, `/` answers a plain page saying how to build it.
The API, health and metrics paths are never touched here.
"""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask, Response, abort, request, send_from_directory

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DIST = ROOT / "console" / "dist"
RESERVED = ("/api/", "/healthz", "/readyz", "/livez", "/metrics")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
       "object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'")
HTML_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin"}
IMMUTABLE = "public, max-age=31536000, immutable"

BUILD_HELP = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>CRM</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.6">
<h1>控制台尚未构建 / The console is not built yet</h1>
<p>网页控制台需要用 Node.js 和 npm 构建一次。在项目根目录运行：</p>
<p>The web console must be built once with Node.js and npm. In the project folder run:</p>
<pre>npm ci --prefix console &amp;&amp; npm run build --prefix console</pre>
<p>然后刷新本页。API 不受影响：<a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>
<p>Then reload this page. The API works without it:
<a href="/api/v1/openapi.json">/api/v1/openapi.json</a></p>
</body></html>
"""


def console_dist() -> Path:
    return Path(os.environ.get("CRM_CONSOLE_DIST") or DEFAULT_DIST)


def install_console(app: Flask, dist: Path | None = None) -> None:
    """Register `/`, `/assets/<file>` and the SPA fallback on the gateway app."""
    def folder() -> Path:
        return Path(dist) if dist is not None else console_dist()

    def html_page() -> Response:
        index = folder() / "index.html"
        if not index.is_file():
            response = Response(BUILD_HELP, 200, mimetype="text/html")
        else:
            response = Response(index.read_bytes(), 200, mimetype="text/html")
        response.headers["Cache-Control"] = "no-cache"
        response.headers.update(HTML_HEADERS)
        return response

    @app.get("/")
    def console_index():
        return html_page()

    @app.get("/assets/<path:filename>")
    def console_asset(filename: str):
        assets = folder() / "assets"
        if not assets.is_dir():
            abort(404)
        response = send_from_directory(assets, filename, max_age=31536000)
        response.headers["Cache-Control"] = IMMUTABLE
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/<path:route>")
    def console_route(route: str):
        path = "/" + route
        if path.startswith(RESERVED) or path == "/api":
            abort(404)
        top = folder() / route
        if "/" not in route and top.is_file() and route != "index.html":
            response = send_from_directory(folder(), route, max_age=3600)  # favicon etc.
            return response
        if not _accepts_html():
            abort(404)
        return html_page()


def _accepts_html() -> bool:
    """A browser navigation names text/html itself; a bare */* (curl, API clients) keeps
    the plain 404 for unknown paths."""
    return any(value in ("text/html", "application/xhtml+xml")
               for value, _ in request.accept_mimetypes)
