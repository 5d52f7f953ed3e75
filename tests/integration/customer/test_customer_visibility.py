"""Who sees what (CONTRACT §3, §4): full record, public pool view, or 404 — on reads,
lists, exports and actions, for each role."""
from __future__ import annotations

import csv
import io

import pytest

from customer_helpers import CUSTOMERS, cast, create, url

FULL, PUBLIC, HIDDEN = "full", "public", 404


@pytest.fixture(scope="module")
def people(corg):
    return cast(corg, other_team_rep=("rep", "east/hangzhou/team-1"))


@pytest.fixture(scope="module")
def owned(people):
    customer = create(people["owner"], needs="保密需求")
    reply = people["owner"].post(url(customer, "/shares"),
                                 json={"user_ids": [people["sharee"].id]})
    assert reply.status_code == 200, reply
    return customer


@pytest.fixture(scope="module")
def pooled(people):
    return create(people["owner"], in_pool=True, needs="池中需求")


EXPECTED_OWNED = {"owner": FULL, "sharee": FULL, "supervisor": FULL, "manager": FULL,
                  "admin": FULL, "teammate": HIDDEN, "other_team_rep": HIDDEN,
                  "other_supervisor": HIDDEN, "other_manager": HIDDEN}


@pytest.mark.parametrize("who, expected", sorted(EXPECTED_OWNED.items()))
def test_reading_an_owned_customer(people, owned, who, expected):
    reply = people[who].get(url(owned))
    if expected == HIDDEN:
        assert reply.status_code == 404
        for suffix in ("/history", "/contacts", "/interactions"):
            assert people[who].get(url(owned, suffix)).status_code == 404
        return
    assert reply.status_code == 200 and reply.json["view"] == FULL
    assert reply.json["needs"] == "保密需求" and reply.json["primary_contact"]["phone"]
    for suffix in ("/history", "/contacts", "/interactions"):
        assert people[who].get(url(owned, suffix)).status_code == 200


@pytest.mark.parametrize("who", ["owner", "teammate", "sharee", "supervisor", "manager",
                                 "other_manager"])
def test_a_pool_customer_shows_its_public_view_only(people, pooled, who):
    reply = people[who].get(url(pooled))
    assert reply.status_code == 200 and reply.json["view"] == PUBLIC
    assert not {"needs", "primary_contact", "contacts", "shared_with"} & set(reply.json)
    for suffix in ("/history", "/contacts", "/interactions"):
        assert people[who].get(url(pooled, suffix)).status_code == 403


def test_admins_see_pool_customers_in_full(people, pooled):
    assert people["admin"].get(url(pooled)).json["view"] == FULL


@pytest.mark.parametrize("who, expected", sorted(EXPECTED_OWNED.items()))
def test_lists_and_exports_hold_exactly_the_visible(people, owned, who, expected):
    ids = {c["id"] for c in people[who].get(f"{CUSTOMERS}?per_page=100").json["items"]}
    assert (owned["id"] in ids) == (expected == FULL)
    exported = people[who].get(f"{CUSTOMERS}/export?format=csv")
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.data.decode("utf-8-sig"))))
    assert (owned["number"] in {r[0] for r in rows[1:]}) == (expected == FULL)


def test_scopes(people, owned):
    def ids(who, scope):
        reply = people[who].get(f"{CUSTOMERS}?scope={scope}&per_page=100")
        assert reply.status_code == 200
        return {c["id"] for c in reply.json["items"]}

    assert owned["id"] in ids("owner", "mine")
    assert owned["id"] not in ids("owner", "shared")
    assert owned["id"] in ids("sharee", "shared")
    assert owned["id"] not in ids("sharee", "mine")
    assert owned["id"] in ids("supervisor", "team")
    assert owned["id"] in ids("manager", "team")
    assert owned["id"] not in ids("other_supervisor", "team")
    assert owned["id"] not in ids("teammate", "team")
    assert people["owner"].get(f"{CUSTOMERS}?scope=everyone").status_code == 422


def test_the_pool_list_shows_everyone_every_customer_publicly(people, owned, pooled):
    for who in ("teammate", "other_manager"):
        items = {c["id"]: c for c in people[who].get("/api/v1/pool?per_page=100").json["items"]}
        assert items[owned["id"]]["claimed"] is True
        assert items[owned["id"]]["owner_name"] == people["owner"].user["name"]
        assert items[pooled["id"]]["claimed"] is False
        assert not {"needs", "primary_contact"} & set(items[owned["id"]])
    unclaimed = people["teammate"].get("/api/v1/pool?claimed=false&per_page=100").json
    assert pooled["id"] in {c["id"] for c in unclaimed["items"]}
    assert owned["id"] not in {c["id"] for c in unclaimed["items"]}


def test_sharees_read_and_log_but_do_not_edit(people, owned):
    sharee = people["sharee"]
    assert sharee.patch(url(owned), json={"level": "A"}).status_code == 403
    assert sharee.post(url(owned, "/contacts"), json={"name": "李"}).status_code == 403
    assert sharee.post(url(owned, "/return"), json={}).status_code == 403
    assert sharee.post(url(owned, "/shares"), json={"user_ids": [people["teammate"].id]}
                       ).status_code == 403
    logged = sharee.post(url(owned, "/interactions"), json={
        "occurred_at": "2026-11-20T10:00:00+08:00", "method": "call", "subject": "代为跟进",
        "content": "客户来电咨询"})
    assert logged.status_code == 201, logged


@pytest.mark.parametrize("who", ["teammate", "other_supervisor", "other_manager"])
def test_strangers_get_404_on_every_action(people, owned, who):
    session = people[who]
    assert session.patch(url(owned), json={"level": "A"}).status_code == 404
    assert session.post(url(owned, "/return"), json={}).status_code == 404
    assert session.post(url(owned, "/assign"), json={"user_id": session.id}).status_code == 404
    assert session.post(url(owned, "/shares"), json={"user_ids": [session.id]}
                        ).status_code == 404
    assert session.post(url(owned, "/interactions"), json={
        "occurred_at": "2026-11-20T10:00:00+08:00", "method": "call", "subject": "x",
        "content": "y"}).status_code == 404


@pytest.mark.parametrize("who", ["supervisor", "manager", "admin"])
def test_superiors_may_edit(people, owned, who):
    reply = people[who].patch(url(owned), json={"source": f"{who} 修改"})
    assert reply.status_code == 200 and reply.json["source"] == f"{who} 修改"


def test_a_rep_may_not_edit_a_pool_customer(people, pooled):
    assert people["teammate"].patch(url(pooled), json={"level": "A"}).status_code == 403
