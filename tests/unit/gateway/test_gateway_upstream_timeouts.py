"""How long the gateway waits for a service: long only where a route needs it, and long
enough there."""
from __future__ import annotations

from gateway.proxy import (DEFAULT_TIMEOUT_S, FORWARDED_REQUEST_HEADERS, RETURNED_HEADERS,
                           upstream_timeout)
from services.customer.transfer import MAX_IMPORT_ROWS

# the import's rate through the gateway on the 2-core development machine (bench/
# import_export.py, a 50,000-row xlsx); a loaded machine is slower
MEASURED_IMPORT_ROWS_PER_S = 190


def test_the_largest_import_allowed_has_time_to_finish():
    needs = MAX_IMPORT_ROWS / MEASURED_IMPORT_ROWS_PER_S
    assert upstream_timeout("/api/v1/customers/import") >= 2 * needs


def test_other_routes_wait_the_default_and_an_export_each_piece_longer():
    assert upstream_timeout("/api/v1/customers/CRM1") == DEFAULT_TIMEOUT_S
    assert upstream_timeout("/api/v1/reports/funnel") == DEFAULT_TIMEOUT_S
    assert DEFAULT_TIMEOUT_S < upstream_timeout("/api/v1/customers/export") < \
        upstream_timeout("/api/v1/customers/import")


def test_a_background_imports_status_waits_the_default():
    assert upstream_timeout("/api/v1/customers/imports") == DEFAULT_TIMEOUT_S
    assert upstream_timeout("/api/v1/customers/imports/abc123") == DEFAULT_TIMEOUT_S


def test_the_gateway_passes_the_async_preference_both_ways():
    assert "Prefer" in FORWARDED_REQUEST_HEADERS
    assert "Preference-Applied" in RETURNED_HEADERS and "Location" in RETURNED_HEADERS
