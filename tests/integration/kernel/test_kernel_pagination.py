"""List sorting: `field` or `-field`, only over allowed fields, with a stable tiebreak."""
from __future__ import annotations


import pytest

from crmkit.errors import Invalid
from crmkit.pagination import PageQuery, page_body, paginate, sort_spec
from crm_testing import fresh_database

ALLOWED = {"created_at", "name"}


def test_ascending_and_descending():
    assert sort_spec("name", ALLOWED, "-created_at") == [("name", 1), ("_id", 1)]
    assert sort_spec("-name", ALLOWED, "-created_at") == [("name", -1), ("_id", -1)]
    assert sort_spec("+name", ALLOWED, "-created_at") == [("name", 1), ("_id", 1)]


def test_default_when_absent():
    assert sort_spec(None, ALLOWED, "-created_at") == [("created_at", -1), ("_id", -1)]
    assert sort_spec("", ALLOWED, "name") == [("name", 1), ("_id", 1)]


@pytest.mark.parametrize("sort", ["password", "-owner_id", "-", "name;drop"])
def test_refuses_other_fields(sort):
    with pytest.raises(Invalid) as raised:
        sort_spec(sort, ALLOWED, "name")
    assert set(raised.value.errors) == {"sort"}


def test_page_query_limits():
    assert PageQuery().load({}) == {"page": 1, "per_page": 20, "sort": None}
    for bad in ({"per_page": 101}, {"per_page": 0}, {"page": 0}):
        assert PageQuery().validate(bad)


def test_paginate_pages_through_a_sorted_collection():
    collection = fresh_database("page")["items"]
    collection.insert_many([{"_id": f"i{n:02}", "name": f"n{n % 5}"} for n in range(23)])
    sort = sort_spec("-name", ALLOWED, "name")
    seen = []
    for page in (1, 2, 3):
        items, total = paginate(collection, {}, sort=sort, page=page, per_page=10)
        assert total == 23
        seen.extend(item["_id"] for item in items)
    assert len(seen) == len(set(seen)) == 23
    assert page_body([], 23, 3, 10) == {"items": [], "total": 23, "page": 3, "per_page": 10}
