"""Gunicorn for the opportunity service API: `gunicorn -c deploy/gunicorn/opportunity.conf.py`."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gunicorn_common import settings_for  # noqa: E402

globals().update(settings_for("opportunity", wsgi_app="services.opportunity.app:create_app()", port=8000))
