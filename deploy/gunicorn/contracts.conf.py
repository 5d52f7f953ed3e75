"""Gunicorn for the contracts service API: `gunicorn -c deploy/gunicorn/contracts.conf.py`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gunicorn_common import settings_for  # noqa: E402

globals().update(settings_for("contracts", wsgi_app="services.contracts.app:create_app()", port=8000))
