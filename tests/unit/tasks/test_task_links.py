"""Which customers and opportunities a task may link: exactly what its author may see."""
from __future__ import annotations

import pytest

from crmkit.errors import Invalid
from services.tasks.access import Linkable, linkable_customer, may_link, require_may_link
from task_people import PEOPLE, owner_of


def test_an_owned_record_is_linkable_by_who_sees_it():
    record = linkable_customer(owner_of("rep1"), "east", shared_with=["rep_west"])
    allowed = {name for name, person in PEOPLE.items() if may_link(person, record)}
    assert allowed == {"rep1", "sup1", "sup_sh", "mgr_east", "admin", "rep_west"}


def test_a_pool_customer_only_by_supervisors_and_up_of_its_region_not_its_sharees():
    record = linkable_customer(None, "east", shared_with=["rep1"])
    allowed = {name for name, person in PEOPLE.items() if may_link(person, record)}
    assert allowed == {"sup1", "sup_sh", "mgr_east", "admin"}


def test_an_unowned_opportunity_also_by_its_customers_sharees():
    record = Linkable(None, "west", shared_with=("rep1",))
    allowed = {name for name, person in PEOPLE.items() if may_link(person, record)}
    assert allowed == {"rep1", "sup_west", "mgr_west", "admin"}


def test_unknown_is_refused_naming_the_field():
    with pytest.raises(Invalid) as refused:
        require_may_link(PEOPLE["admin"], customers={"c1": None})
    assert refused.value.code == "unknown_customer"
    assert "c1" in refused.value.errors["customer_ids"][0]
    with pytest.raises(Invalid) as refused:
        require_may_link(PEOPLE["rep3"], opportunity=("o1", Linkable(owner_of("rep1"))))
    assert refused.value.code == "unknown_opportunity"
    assert list(refused.value.errors) == ["opportunity_id"]
    require_may_link(PEOPLE["rep1"], customers={"c1": Linkable(owner_of("rep1"))},
                     opportunity=("o1", Linkable(owner_of("rep1"))))
