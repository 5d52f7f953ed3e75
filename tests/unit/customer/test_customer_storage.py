"""The stored shape of a customer and the list filters (pure functions, no database)."""
import inspect
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from services.customer.access import FILTER_FIELDS, PUBLIC_FIELDS
from services.customer.documents import customer_doc, customer_from
from services.customer.repository import (PUBLIC_SORTABLE, SORTABLE, customer_filter,
                                          scope_filter)

from customer_fixtures import ADMIN, MANAGER, NOW, REP, SUPERVISOR, make_customer


def test_a_customer_survives_storage_unchanged():
    customer = make_customer(REP)
    customer.update(MANAGER, {"deal_amount": "12.50", "last_deal_on": "2026-11-01"}, now=NOW)
    customer.add_contact(REP, {"name": "李工", "birthday": "1985-06-01", "mobile":
                               "13900002222", "relations": [{"relation": "配偶", "name": "张"}]},
                         contact_id="k1", now=NOW)
    customer.share(REP, ["u1"], now=NOW)
    customer.return_to_pool(REP, now=NOW)
    customer.events.clear(), customer.log.clear()
    again = customer_from(customer_doc(customer))
    assert again == customer
    assert again.deal_amount == Decimal("12.50") and again.last_deal_on == date(2026, 11, 1)
    assert again.contact("k1").birthday == date(1985, 6, 1)


def test_the_document_carries_what_queries_need():
    doc = customer_doc(make_customer(REP))
    assert doc["owner_team"] == REP.team and doc["deleted"] is False
    assert doc["name_normalized"] == "商策科技" and doc["name_initials"] == "sckj"
    terms = doc["search_terms"]

    def found(q):
        return any(t.startswith(q) for t in terms)

    for q in ("商策", "科技", "上海商策", "sckj", "shsckj", "shangce", "keji", "13812345678",
              "5678", "8613812345678", "王经理", "经理", "wjl", doc["number"].lower()):
        assert found(q), q
    for q in ("北京", "huawei", "9999", "78"):
        assert not found(q), q
    assert doc["deal_amount_cents"] == 0


def test_public_terms_hold_the_public_view_only():
    customer = make_customer(REP)
    customer.add_contact(REP, {"name": "欧阳娜娜", "mobile": "13900002222"}, contact_id="k1",
                         now=NOW)
    terms = customer_doc(customer)["public_terms"]

    def found(q):
        return any(t.startswith(q) for t in terms)

    for q in ("商策", "科技", "sckj", "shangce", customer.number.lower()):
        assert found(q), q
    for q in ("138", "13812345678", "5678", "8613812345678", "139000", "王经理", "wjl",
              "欧阳", "娜娜", "oynn"):
        assert not found(q), q


def test_the_pool_matches_private_fields_only_within_what_the_caller_sees():
    visible = {"owner_id": "u-1"}
    clauses = customer_filter(tz=ZoneInfo("UTC"), visible=visible, q="1381234", claimed=False,
                              no_followup_since=date(2026, 11, 1))
    assert {"$or": [{"public_terms": {"$regex": "^1381234"}},
                    {"$and": [visible, {"search_terms": {"$regex": "^1381234"}}]}]} in clauses
    assert {"owner_id": None} in clauses
    stale = [c for c in clauses if "$and" in c and "last_followup_at" in str(c)]
    assert stale and stale[0]["$and"][0] == visible


def test_the_pool_sorts_by_public_fields_only():
    assert {"deal_amount", "last_deal_on", "last_followup_at"} <= set(SORTABLE)
    assert not {"deal_amount", "last_deal_on", "last_followup_at"} & set(PUBLIC_SORTABLE)
    assert set(PUBLIC_SORTABLE) <= set(PUBLIC_FIELDS)
    assert {"name", "number", "created_at", "level", "status"} <= set(PUBLIC_SORTABLE)


def test_every_list_filter_is_known_public_or_private():
    """A filter the domain does not know could not be kept to visible customers in the pool."""
    keywords = set(inspect.signature(customer_filter).parameters) - {"tz", "visible", "q",
                                                                     "_ignored"}
    assert keywords == set(FILTER_FIELDS)


def test_filters_use_local_dates():
    tz = ZoneInfo("Asia/Shanghai")
    clauses = customer_filter(tz=tz, created_from=date(2026, 11, 23),
                              created_to=date(2026, 11, 23), no_followup_since=date(2026, 11, 1))
    start = datetime(2026, 11, 22, 16, 0, tzinfo=timezone.utc)
    assert {"created_at": {"$gte": start}} in clauses
    assert {"created_at": {"$lt": start + timedelta(days=1)}} in clauses
    assert clauses[0] == {"deleted": False}


def test_q_is_a_prefix_match_on_search_terms():
    clauses = customer_filter(tz=ZoneInfo("UTC"), q=" SCKJ ")
    assert {"search_terms": {"$regex": "^sckj"}} in clauses
    assert customer_filter(tz=ZoneInfo("UTC"), q="  ") == [{"deleted": False}]


def test_scopes():
    assert scope_filter(REP, "mine") == {"owner_id": REP.user_id}
    # shared with the caller, or with their team or a team above it (CONTRACT §11)
    assert scope_filter(REP, "shared") == {"$or": [
        {"shared_with": REP.user_id},
        {"shared_teams": {"$in": ["east", "east/shanghai", "east/shanghai/team-1"]}}]}
    assert scope_filter(REP, "team") == {"owner_id": REP.user_id}
    assert scope_filter(MANAGER, "team") == {"owner_region": "east"}
    assert scope_filter(ADMIN, "all") == {}
    team = scope_filter(SUPERVISOR, "team")["$or"]
    assert {"owner_team": "east/shanghai"} in team
