"""gunicorn's own limits (deploy/gunicorn) sit above the gateway's, so a client over the
gateway's URI or header limits gets the gateway's problem+json, not gunicorn's text/html
page; and what the gateway forwards fits a service API's request line."""
from __future__ import annotations

import runpy
from pathlib import Path

import pytest
from gunicorn.config import Config

from gateway.limits import MAX_HEADER_BYTES, MAX_HEADERS, MAX_TARGET_BYTES

GUNICORN = Path(__file__).resolve().parents[3] / "deploy" / "gunicorn"
LONGEST_LINE_AROUND_TARGET = len("DELETE  HTTP/1.1")


@pytest.mark.parametrize("part", ["gateway", "customer", "opportunity", "tasks", "reporting",
                                  "contracts"])
def test_gunicorn_lets_what_the_gateway_refuses_itself_through(part, monkeypatch):
    monkeypatch.delenv("CRM_HTTP_BIND", raising=False)
    settings = runpy.run_path(str(GUNICORN / f"{part}.conf.py"))
    config = Config()
    for name in ("limit_request_line", "limit_request_field_size", "limit_request_fields"):
        config.set(name, settings[name])   # gunicorn's validators accept them
    assert config.limit_request_line > MAX_TARGET_BYTES + LONGEST_LINE_AROUND_TARGET
    assert config.limit_request_field_size > MAX_HEADER_BYTES + 2
    assert config.limit_request_fields > MAX_HEADERS


def test_a_forwarded_request_line_fits_gunicorns_default():
    assert MAX_TARGET_BYTES + LONGEST_LINE_AROUND_TARGET <= Config().limit_request_line
