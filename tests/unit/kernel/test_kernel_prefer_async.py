"""RFC 7240's `Prefer: respond-async`, among other preferences or not."""
from __future__ import annotations

import pytest

from crmkit.background import prefers_async


@pytest.mark.parametrize("header, wanted", [
    ("respond-async", True), ("Respond-Async", True), ("return=minimal, respond-async", True),
    ("respond-async; x=1, wait=10", True), ("wait=10", False), ("", False), (None, False),
    ("respond-asynchronously", False), ("return=respond-async", False)])
def test_prefers_async(header, wanted):
    assert prefers_async(header) is wanted
