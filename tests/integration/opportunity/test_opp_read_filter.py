"""The list query's visibility filter admits exactly what domain.can_read admits
(checked on the database server)."""
import pytest

from crm_testing import fresh_database
from opp_people import (ADMIN, MANAGER, OTHER_REP, OTHER_SUPERVISOR, REP, SUPERVISOR,
                        TEAMMATE, WEST_MANAGER, WEST_SUPERVISOR, customer_of,
                        open_opportunity)
from services.opportunity.access import can_read
from services.opportunity.repository import from_doc, list_filter, read_filter, to_doc

VIEWERS = [REP, TEAMMATE, OTHER_REP, SUPERVISOR, OTHER_SUPERVISOR, WEST_SUPERVISOR, MANAGER,
           WEST_MANAGER, ADMIN]


@pytest.fixture(scope="module")
def stored():
    collection = fresh_database("opp")["opportunities"]
    opps = [
        open_opportunity(customer=customer_of(REP, customer_id="a")),
        open_opportunity(viewer=OTHER_REP, customer=customer_of(OTHER_REP, customer_id="b")),
        open_opportunity(customer=customer_of(REP, customer_id="c", shared_with=["rep3"])),
        open_opportunity(viewer=SUPERVISOR, customer=customer_of(None, customer_id="d")),
        open_opportunity(viewer=ADMIN, customer=customer_of(None, customer_id="e",
                                                            region="west")),
        open_opportunity(viewer=ADMIN, customer=customer_of(WEST_MANAGER, customer_id="f",
                                                            region="west")),
    ]
    collection.insert_many([to_doc(o) for o in opps])
    return collection, opps


@pytest.mark.parametrize("viewer", VIEWERS, ids=lambda v: v.user_id)
def test_filter_matches_the_domain_rule(stored, viewer):
    collection, opps = stored
    found = {d["_id"] for d in collection.find(read_filter(viewer))}
    assert found == {o.id for o in opps if can_read(viewer, o)}


def test_scopes_narrow_what_is_visible(stored):
    collection, opps = stored

    def names(viewer, scope):
        query = {"scope": scope}
        return {d["customer_id"] for d in collection.find(list_filter(viewer, query))}

    assert names(REP, "mine") == {"a", "c"}
    assert names(OTHER_REP, "shared") == {"c"}
    assert names(SUPERVISOR, "team") == {"a", "c"}
    assert names(MANAGER, "all") == {"a", "b", "c", "d"}


def test_unowned_filter_value(stored):
    collection, _ = stored
    found = {d["customer_id"] for d in collection.find(
        list_filter(ADMIN, {"owner_id": "none"}))}
    assert found == {"d", "e"}


def test_documents_round_trip(stored):
    _, opps = stored
    for opp in opps:
        again = from_doc(to_doc(opp))
        assert again == opp
