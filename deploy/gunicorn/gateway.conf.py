"""Gunicorn for the gateway: `gunicorn -c deploy/gunicorn/gateway.conf.py`.

The gateway listens on CRM_PORT (default 8080) unless CRM_HTTP_BIND says otherwise.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gunicorn_common import settings_for  # noqa: E402

globals().update(settings_for("gateway", wsgi_app="gateway.app:create_app()",
                              port=int(os.environ.get("CRM_PORT") or 8080)))
