"""The console sorts the customer list by any column it shows: industry, region, source too."""
from __future__ import annotations

from customer_helpers import CUSTOMERS, create


def test_sort_by_industry_region_and_source(corg):
    rep = corg.user("rep")
    for industry, source in (("物流", "展会"), ("软件", "官网"), ("制造", "转介绍")):
        create(rep, industry=industry, source=source)
    for field in ("industry", "region", "source"):
        up = rep.get(f"{CUSTOMERS}?scope=mine&sort={field}")
        assert up.status_code == 200, up
        values = [c[field] or "" for c in up.json["items"]]
        assert values == sorted(values)
        down = rep.get(f"{CUSTOMERS}?scope=mine&sort=-{field}").json["items"]
        assert [c[field] or "" for c in down] == sorted(values, reverse=True)


def test_sort_by_number_both_ways_in_the_list_and_the_pool(corg):
    """The number sorts on its own (it is unique), read in order from its index."""
    rep = corg.user("rep")
    for _ in range(3):
        create(rep)
    for path in (f"{CUSTOMERS}?scope=mine", "/api/v1/pool?per_page=100"):
        up = rep.get(f"{path}&sort=number")
        assert up.status_code == 200, up
        numbers = [c["number"] for c in up.json["items"]]
        assert len(numbers) >= 3 and numbers == sorted(numbers)
        down = rep.get(f"{path}&sort=-number").json["items"]
        assert [c["number"] for c in down] == sorted(numbers, reverse=True)
