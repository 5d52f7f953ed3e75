"""What a customer's writes send to its search rows (services/customer/terms_repository.py),
counted on the session's database server: a create writes its rows before the document
and leaves no flag; a save that changes no term does not touch `customer_terms` and is
one write; a rename leaves exactly the new name's rows."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from pymongo import MongoClient, monitoring

from crm_testing import session_mongo_url
from crmkit.identity import Identity
from services.customer.documents import TERMS_DIGEST, TERMS_PENDING, customer_doc
from services.customer.domain import Customer
from services.customer.repository import CustomerRepository
from services.customer.terms_repository import TERMS, rows_digest, wanted_rows

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)
ADMIN = Identity("admin", "admin", "Admin", "admin", "east", "east")


class Commands(monitoring.CommandListener):
    """The commands sent, as (name, collection)."""

    def __init__(self):
        self.sent: list[tuple[str, str]] = []

    def started(self, event):
        self.sent.append((event.command_name, str(event.command.get(event.command_name))))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture(scope="module")
def watched():
    commands = Commands()
    client = MongoClient(session_mongo_url(), event_listeners=[commands])
    repository = CustomerRepository(client[f"termwrites_{uuid.uuid4().hex[:10]}"])
    repository.ensure_indexes()
    yield repository, commands
    client.close()


def create(repository, n: int, *, in_pool: bool = False) -> Customer:
    number = f"CRM20261123{n:06d}"
    customer = Customer.create(
        ADMIN, {"name": f"上海商策科技{n:04d}有限公司", "industry": "软件",
                "status": "potential", "primary_contact": {"name": "王经理",
                                                           "phone": f"1391234{n:04d}"}},
        customer_id=number, number=number, contact_id=uuid.uuid4().hex, now=NOW,
        in_pool=in_pool)
    repository.insert(customer, [])
    return customer


def stored_rows(repository, customer_id: str) -> set[str]:
    return {r["_id"] for r in repository.db[TERMS].find({"customer_id": customer_id})}


def change(repository, customer_id: str, data: dict, commands=None) -> None:
    customer = repository.get(customer_id)
    loaded = customer.version
    customer.update(ADMIN, data, now=NOW)
    if commands is not None:
        commands.sent.clear()
    repository.save(customer, loaded, [])


def test_a_create_writes_its_rows_first_and_leaves_no_flag(watched):
    repository, commands = watched
    commands.sent.clear()
    customer = create(repository, 1)
    assert commands.sent == [("insert", TERMS), ("insert", "customers")]
    doc = repository.customers.find_one({"_id": customer.id})
    assert TERMS_PENDING not in doc
    assert doc[TERMS_DIGEST] == rows_digest(wanted_rows(doc))
    assert stored_rows(repository, customer.id) == set(wanted_rows(doc))
    assert repository.terms.lookup("商策科技0001").public == [customer.id]


def test_a_save_changing_no_term_is_one_write_and_leaves_the_rows(watched):
    repository, commands = watched
    customer = create(repository, 2)
    rows = stored_rows(repository, customer.id)
    for data in ({"level": "A"}, {"needs": "采购 CRM", "tags": ["重点"]}):
        customer = repository.get(customer.id)
        loaded = customer.version
        customer.update(ADMIN, data, now=NOW)
        commands.sent.clear()
        repository.save(customer, loaded, [])
        assert commands.sent == [("update", "customers")], data
    assert stored_rows(repository, customer.id) == rows
    doc = repository.customers.find_one({"_id": customer.id})
    assert doc["level"] == "A" and TERMS_PENDING not in doc


def test_a_rename_leaves_exactly_the_new_names_rows(watched):
    repository, commands = watched
    customer = create(repository, 3)
    change(repository, customer.id, {"name": "杭州云帆物流有限公司"}, commands)
    # the conditional write that found other terms, the flagged write, the difference,
    # the flag cleared
    assert [name for name, _ in commands.sent] == [
        "update", "findAndModify", "insert", "delete", "update"]
    assert {c for _, c in commands.sent} == {"customers", TERMS}
    doc = repository.customers.find_one({"_id": customer.id})
    assert TERMS_PENDING not in doc and doc[TERMS_DIGEST] == rows_digest(wanted_rows(doc))
    assert stored_rows(repository, customer.id) == set(wanted_rows(doc))
    assert repository.terms.lookup("yunfan").public == [customer.id]
    assert customer.id not in repository.terms.lookup("商策科技0003").public


def test_a_customer_stored_before_the_digest_gets_it_and_its_rows_are_made_minimal(watched):
    """A document written before the digest (and its rows, one per term) takes the
    flagged path once: its rows end as `wanted_rows` has them."""
    repository, _ = watched
    customer = create(repository, 4)
    doc = repository.customers.find_one({"_id": customer.id})
    repository.customers.update_one({"_id": customer.id}, {"$unset": {TERMS_DIGEST: ""}})
    public = set(doc["public_terms"])
    every = [{"_id": f"{customer.id}\x1f{'p' if t in public else 's'}\x1f{t}", "term": t,
              "customer_id": customer.id, "public": t in public} for t in doc["search_terms"]]
    repository.db[TERMS].delete_many({"customer_id": customer.id})
    repository.db[TERMS].insert_many(every)
    change(repository, customer.id, {"level": "C"})
    doc = repository.customers.find_one({"_id": customer.id})
    assert doc[TERMS_DIGEST] == rows_digest(wanted_rows(doc)) and TERMS_PENDING not in doc
    assert stored_rows(repository, customer.id) == set(wanted_rows(doc)) != {
        row["_id"] for row in every}


def test_a_consumed_event_renaming_nothing_and_a_deletion(watched):
    """A save applying a consumed event (apply_once) keeps the rule; a deletion leaves
    no rows."""
    repository, commands = watched
    customer = create(repository, 5, in_pool=True)
    rows = stored_rows(repository, customer.id)
    loaded_customer = repository.get(customer.id, with_seen_events=True)
    loaded = loaded_customer.version
    loaded_customer.update(ADMIN, {"level": "B"}, now=NOW)
    commands.sent.clear()
    repository.save(loaded_customer, loaded, [], seen_event="evt-1")
    assert TERMS not in {c for _, c in commands.sent}
    assert stored_rows(repository, customer.id) == rows
    gone = repository.get(customer.id)
    loaded = gone.version
    gone.delete(ADMIN, now=NOW)
    repository.save(gone, loaded, [])
    assert stored_rows(repository, customer.id) == set()
    assert TERMS_PENDING not in repository.customers.find_one({"_id": customer.id})


def test_rows_of_a_create_that_crashed_before_its_document_find_nothing(watched):
    repository, _ = watched
    number = "CRM20261123009999"
    orphan = Customer.create(ADMIN, {"name": "孤儿行测试有限公司", "industry": "软件",
                                     "status": "potential", "primary_contact": {
                                         "name": "赵六", "phone": "13700009999"}},
                             customer_id=number, number=number, contact_id="k", now=NOW)
    repository.terms.insert_for_new([customer_doc(orphan)])   # and then the crash
    assert repository.terms.lookup("孤儿行").public == [number]
    page = repository.list_page(ADMIN, {"q": "孤儿行", "page": 1, "per_page": 20,
                                        "sort": None}, tz=TZ)
    assert page.total == 0 and page.items == []
