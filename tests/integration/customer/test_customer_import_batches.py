"""The import's batched writes: names reserved a batch at a time (one query, one insert,
`reserve` for what is taken), and its customers findable by search at once (their search
rows written with them)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from services.customer import naming
from services.customer.handlers.imports import RESERVE_BATCH

from customer_helpers import (customer_body, identity, service_handlers, unique_name,
                              xlsx_bytes)


def test_reserve_many_takes_free_names_and_names_the_holders_of_the_others():
    handlers = service_handlers()
    rep = identity("rep1")
    held = handlers.create_customer(customer_body(), rep)
    names = handlers.repository.names
    stale_at = datetime.now(timezone.utc) - timedelta(hours=1)
    # a reservation whose customer was never written, past its grace time: taken over
    names.names.insert_one({"_id": "过期保留", "customer_id": "ghost", "at": stale_at})
    wanted = {naming.normalize_name(held.name): "n1", "新名字甲": "n2", "新名字乙": "n3",
              "过期保留": "n4"}
    assert names.reserve_many(wanted) == {naming.normalize_name(held.name): held.id}
    reserved = {d["_id"]: d["customer_id"] for d in names.names.find(
        {"_id": {"$in": ["新名字甲", "新名字乙", "过期保留"]}})}
    assert reserved == {"新名字甲": "n2", "新名字乙": "n3", "过期保留": "n4"}
    # again: every name is now held, by those ids (a retry of the same ids is no clash)
    assert names.reserve_many({"新名字甲": "n2", "新名字乙": "other"}) == {"新名字乙": "n3"}


def test_an_import_larger_than_a_batch_reports_duplicates_by_row_and_is_searchable():
    handlers = service_handlers()
    rep = identity("rep1")
    existing = handlers.create_customer(customer_body(), rep)
    count = RESERVE_BATCH + 20
    rows = [["客户名称", "行业", "状态", "联系人", "联系电话"]]
    rows += [[unique_name(), "软件", "潜在客户", f"联系人{n}", f"139{n:08d}"]
             for n in range(count)]
    rows[3][0] = existing.name                      # row 4 of the sheet
    rows[RESERVE_BATCH + 10][0] = existing.name     # in the second batch (a repeat too)
    result = handlers.import_customers(xlsx_bytes(rows), "big.xlsx", rep)
    assert result["created"] == count - 2 and result["errors"] == []
    assert [d["row"] for d in result["duplicates"]] == [4, RESERVE_BATCH + 11]
    assert result["duplicates"][0]["matches"][0]["id"] == existing.id
    assert result["duplicates"][1]["matches"] == [{"row": 4, "name": existing.name}]
    last = rows[-1][0]
    page = handlers.repository.list_page(rep, {"q": last, "page": 1, "per_page": 5,
                                               "scope": "all"}, tz=handlers.tz)
    items, total = page
    assert total == 1 and items[0].name == last
    assert handlers.repository.customers.count_documents({"_terms_pending": True}) == 0


def test_chunks_are_released_once_written_and_a_failed_one_is_left_to_recovery(monkeypatch):
    """An import hands its chunks' events to the relay once it has written them all;
    when a chunk fails half-way, those written before are released, and the failed one
    is finished by the recovery job with the events of the customers that exist."""
    from crmkit.bus.outbox import OUTBOX, PENDING, pending_envelopes
    from services.customer.handlers import imports

    handlers = service_handlers()
    rep = identity("rep1")
    repository = handlers.repository
    monkeypatch.setattr(imports, "IMPORT_CHUNK", 2)
    header = ["客户名称", "行业", "状态", "联系人", "联系电话"]
    rows = [header] + [[unique_name(), "软件", "潜在客户", f"联系人{n}", f"139{n:08d}"]
                       for n in range(5)]
    result = handlers.import_customers(xlsx_bytes(rows), "ok.xlsx", rep)
    assert result["created"] == 5
    chunks = list(repository.imports.find({}))
    assert len(chunks) == 3
    assert {(c["state"], c[PENDING]) for c in chunks} == {("written", True)}
    assert sum(len(c[OUTBOX]) for c in chunks) == 10   # customer.created, contact.created

    repository.imports.delete_many({})
    real_insert = repository.customers.insert_many
    calls = []

    def crash_on_the_second(docs, **kwargs):
        calls.append(len(docs))
        if len(calls) == 2:
            real_insert(docs[:1], **kwargs)   # one customer written, then the crash
            raise RuntimeError("crash")
        return real_insert(docs, **kwargs)

    monkeypatch.setattr(repository.customers, "insert_many", crash_on_the_second)
    rows = [header] + [[unique_name(), "软件", "潜在客户", f"联系人{n}", f"138{n:08d}"]
                       for n in range(5)]
    try:
        handlers.import_customers(xlsx_bytes(rows), "crash.xlsx", rep)
    except RuntimeError:
        pass
    else:
        raise AssertionError("the crash did not reach the caller")
    states = {c["customer_ids"][0]: (c["state"], c[PENDING])
              for c in repository.imports.find({})}
    assert sorted(states.values()) == [("writing", False), ("written", True)]
    failed = repository.imports.find_one({"state": "writing"})
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    assert repository.recover_import_chunks(later) == 1
    recovered = repository.imports.find_one({"_id": failed["_id"]})
    assert recovered["state"] == "written" and recovered[PENDING] is True
    assert {e["aggregate_id"] for e in pending_envelopes(recovered)} == {
        failed["customer_ids"][0]}
