"""Customer value a page at a time on FerretDB: the admin's pages come from the
customers' value states (an index range) and the value counters, and are the in-memory
reference's page for page; a rep pages their own customers; a store kept before the
value states existed answers from the owners' counters until it is rebuilt."""
from __future__ import annotations

import random
from datetime import date

import pytest

from crmkit.identity import Identity
from people import person
from reporting_envelopes import Producer, consumed, in_memory, user_created
from services.reporting import reports
from services.reporting.repository import ReportingRepository
from crm_testing import fresh_database

PEOPLE = {"r1": ("张三", "rep", "east/a", "east"), "r2": ("李四", "rep", "east/a", "east"),
          "r4": ("赵六", "rep", "north/a", "north"), "boss": ("老板", "admin", "hq", "hq")}
TODAY = date(2026, 11, 23)


def viewer(user_id: str) -> Identity:
    name, role, team, region = PEOPLE[user_id]
    return person(user_id, role, team, region, name=name)


def history(seed: int) -> list[dict]:
    """70 customers, 120 opportunities: amounts in few buckets with many ties (3
    significant digits: 1000.00 and 1004.00 share one), some customers sold to by two
    reps."""
    rnd = random.Random(seed)
    producer = Producer()
    events = [user_created(producer, uid, *p) for uid, p in PEOPLE.items()]
    owners = {}
    for i in range(70):
        owners[f"c{i}"] = rnd.choice(["r1", "r2", "r4"])
        events.append(producer.customer_created(
            f"c{i}", owners[f"c{i}"], name=f"客户{i}",
            region="north" if owners[f"c{i}"] == "r4" else "east"))
    for i in range(120):
        cid = rnd.choice(list(owners))
        owner = owners[cid] if rnd.random() < 0.8 else rnd.choice(["r1", "r2", "r4"])
        events.append(producer.opportunity_created(
            f"o{i}", owner, "10.00", customer=cid,
            region="north" if owner == "r4" else "east"))
        if rnd.random() < 0.75:
            events.append(producer.won(
                f"o{i}", rnd.choice(["1000.00", "1004.00", "1000.00", "250.50", "99999.99",
                                     "0.00"]),
                f"2026-{rnd.randint(1, 11):02d}-{rnd.randint(1, 28):02d}"))
    return events


def pages(store, who: Identity, model: str, per_page: int) -> tuple[list, list]:
    first = reports.customer_value(store, who, model=model, as_of=TODAY, page=1,
                                   per_page=per_page)
    got = [first]
    for page in range(2, -(-first["total"] // per_page) + 1):
        got.append(reports.customer_value(store, who, model=model, as_of=TODAY, page=page,
                                          per_page=per_page))
    return got, [i for reply in got for i in reply["items"]]


@pytest.fixture(scope="module")
def loaded():
    """One store for the module (projecting through FerretDB takes a while); the last
    test rebuilds it, which leaves the same figures."""
    db = fresh_database("reporting")
    repository = ReportingRepository(db)
    repository.ensure_indexes()
    events = history(3)
    return repository, in_memory(events), consumed(repository, events), db


@pytest.mark.parametrize("model", ["abc", "rfm"])
def test_the_admins_pages_come_from_the_value_states(loaded, model):
    repository, memory, _, _ = loaded
    assert repository.value_model_ready()
    got, items = pages(repository, viewer("boss"), model, 9)
    want, want_items = pages(memory, viewer("boss"), model, 9)
    assert got == want
    assert len(items) == got[0]["total"] > 40
    export = reports.customer_value(repository, viewer("boss"), model=model, as_of=TODAY,
                                    page=None)
    assert list(export["items"]) == want_items


def test_a_rep_pages_only_their_customers(loaded):
    repository, memory, _, _ = loaded
    for model in ("abc", "rfm"):
        got, items = pages(repository, viewer("r1"), model, 5)
        assert got == pages(memory, viewer("r1"), model, 5)[0]
        mine = {r["customer_id"] for r in reports._value_items(
            memory, {"u:r1": memory.get_directory("u:r1")})}
        assert {i["customer_id"] for i in items} == mine
        assert got[0]["total"] == len(mine) < pages(repository, viewer("boss"), model,
                                                    100)[0][0]["total"]


def test_an_older_store_answers_from_the_owners_counters_until_rebuilt(loaded):
    repository, memory, handlers, db = loaded
    db["rm_meta"].delete_one({"_id": "value_model"})
    older = ReportingRepository(db)  # another process, started before the rebuild
    assert not older.value_model_ready()
    want = pages(memory, viewer("boss"), "abc", 50)[0]
    assert pages(older, viewer("boss"), "abc", 50)[0] == want
    handlers.rebuild(grace=0)
    assert older.value_model_ready()
    assert pages(older, viewer("boss"), "abc", 50)[0] == want
