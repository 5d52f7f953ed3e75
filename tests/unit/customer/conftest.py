"""Fixtures of the customer-domain unit tests."""
import pytest

from customer_fixtures import REP, make_customer


@pytest.fixture
def owned():
    """A customer owned by REP (team east/shanghai/team-1)."""
    return make_customer(REP)


@pytest.fixture
def pooled():
    """A customer in the pool, created by REP."""
    return make_customer(REP, in_pool=True)
