"""Fixtures for the opportunity domain tests (no servers)."""
import pytest

from opp_people import open_opportunity


@pytest.fixture
def opp():
    o = open_opportunity()
    o.events.clear()
    return o
