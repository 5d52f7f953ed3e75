"""Makers for the customer-domain unit tests (no servers, no I/O).

A uniquely named module (not conftest) so that `import` finds this one even when other
services' test folders have their own conftest.py.
"""
from __future__ import annotations

import itertools
from datetime import datetime, timezone

from crmkit.identity import Identity
from crmkit.visibility import Owner
from people import person  # noqa: F401  (the one factory of test identities; re-exported)

from services.customer.domain import Customer

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)  # 10:00 in Shanghai

_ids = itertools.count(1)


def next_id(prefix: str = "id") -> str:
    return f"{prefix}{next(_ids)}"


REP = person("rep1")
REP_SAME_TEAM = person("rep2")
REP_OTHER_TEAM = person("rep3", team="east/hangzhou/team-1")
REP_OTHER_REGION = person("rep4", team="north/beijing/team-1", region="north")
SUPERVISOR = person("sup1", "supervisor", team="east/shanghai")
SUPERVISOR_OTHER = person("sup2", "supervisor", team="east/hangzhou")
MANAGER = person("mgr1", "manager", team="east", region="east")
MANAGER_OTHER = person("mgr2", "manager", team="north", region="north")
ADMIN = person("admin", "admin", team="", region="")


def owner_of(identity: Identity) -> Owner:
    return Owner(identity.user_id, identity.team, identity.region)


def customer_data(**overrides) -> dict:
    data = {
        "name": "上海商策科技有限公司",
        "industry": "软件",
        "status": "potential",
        "level": "B",
        "tags": ["重点跟进"],
        "needs": "采购 CRM 系统",
        "primary_contact": {"name": "王经理", "phone": "13812345678"},
    }
    data.update(overrides)
    return data


def make_customer(actor: Identity = REP, *, now: datetime = NOW, in_pool: bool = False,
                  owner: Owner | None = None, owner_name: str | None = None,
                  clear: bool = True, **overrides) -> Customer:
    customer = Customer.create(actor, customer_data(**overrides), customer_id=next_id("c"),
                               number="CRM202611230001", contact_id=next_id("ct"), now=now,
                               in_pool=in_pool, owner=owner, owner_name=owner_name)
    if clear:
        customer.events.clear()
        customer.log.clear()
    return customer
