"""Who may read and who may edit an opportunity (CONTRACT §3), per role."""
import pytest

from crmkit.errors import Forbidden, Invalid, NotFound
from opp_people import (ADMIN, MANAGER, OTHER_REP, OTHER_SUPERVISOR, REP, SUPERVISOR,
                        TEAMMATE, WEST_MANAGER, WEST_SUPERVISOR, customer_of,
                        open_opportunity)
from services.opportunity.access import (can_edit, can_read, can_use_customer,
                                         require_customer, require_edit, require_read)


@pytest.mark.parametrize("viewer, may_read, may_edit", [
    (REP, True, True),                 # owner
    (TEAMMATE, False, False),          # same team, not a superior
    (OTHER_REP, False, False),
    (SUPERVISOR, True, True),          # the owner's team is below theirs
    (OTHER_SUPERVISOR, False, False),  # another team
    (MANAGER, True, True),             # same region
    (WEST_MANAGER, False, False),
    (ADMIN, True, True),
])
def test_owned_opportunity_by_role(viewer, may_read, may_edit):
    opp = open_opportunity()
    assert can_read(viewer, opp) is may_read
    assert can_edit(viewer, opp) is may_edit


def test_sharee_of_the_customer_reads_but_may_not_edit():
    opp = open_opportunity(customer=customer_of(REP, shared_with=["rep3"]))
    assert can_read(OTHER_REP, opp)
    with pytest.raises(Forbidden):
        require_edit(OTHER_REP, opp)


def test_invisible_opportunity_is_not_found_not_forbidden():
    opp = open_opportunity()
    with pytest.raises(NotFound):
        require_read(OTHER_REP, opp)
    with pytest.raises(NotFound):
        require_edit(OTHER_REP, opp)


@pytest.mark.parametrize("viewer, visible", [
    (REP, False), (OTHER_REP, False), (SUPERVISOR, True), (OTHER_SUPERVISOR, True),
    (MANAGER, True), (WEST_SUPERVISOR, False), (WEST_MANAGER, False), (ADMIN, True),
])
def test_unowned_opportunity_is_for_supervisors_and_up_of_its_region(viewer, visible):
    opp = open_opportunity()
    opp.follow_customer_owner(None, actor_id="rep1", cause="customer.returned")
    assert can_read(viewer, opp) is visible
    assert can_edit(viewer, opp) is visible


def test_previous_owner_loses_an_opportunity_that_moved_away():
    opp = open_opportunity()
    opp.follow_customer_owner(customer_of(OTHER_REP).owner, actor_id="mgr1",
                              cause="customer.assigned")
    assert not can_read(REP, opp) and can_read(OTHER_REP, opp)


@pytest.mark.parametrize("viewer, usable", [
    (REP, True), (TEAMMATE, False), (SUPERVISOR, True), (MANAGER, True),
    (WEST_MANAGER, False), (ADMIN, True),
])
def test_who_may_open_an_opportunity_on_a_customer(viewer, usable):
    assert can_use_customer(viewer, customer_of(REP)) is usable


def test_sharee_may_open_an_opportunity_owned_by_the_customer_owner():
    customer = customer_of(REP, shared_with=["rep2"])
    opp = open_opportunity(viewer=TEAMMATE, customer=customer)
    assert opp.owner_id == "rep1" and opp.created_by == "rep2"


def test_unclaimed_customer_is_usable_by_supervisors_not_reps():
    pool_customer = customer_of(None)
    assert not can_use_customer(REP, pool_customer)
    assert can_use_customer(SUPERVISOR, pool_customer)
    opp = open_opportunity(viewer=SUPERVISOR, customer=pool_customer)
    assert opp.owner_id is None


@pytest.mark.parametrize("customer", [None, customer_of(OTHER_REP)])
def test_unknown_or_invisible_customer_is_unknown_customer(customer):
    with pytest.raises(Invalid) as err:
        require_customer(REP, customer)
    assert err.value.code == "unknown_customer"
    assert "customer_id" in err.value.errors


def test_creating_on_an_invisible_customer_is_refused():
    with pytest.raises(Invalid) as err:
        open_opportunity(viewer=OTHER_REP, customer=customer_of(REP))
    assert err.value.code == "unknown_customer"
