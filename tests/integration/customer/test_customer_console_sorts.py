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
