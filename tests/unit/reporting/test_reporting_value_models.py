"""Customer value a page at a time: the admin's answer from the customers' value states
and counters (value_models.StoreRanked) is the whole list's (ListRanked) and the
definition's (a reference computed the plain way below), page by page; pieces alone."""
from __future__ import annotations

import math
import random
from datetime import date
from decimal import Decimal

import pytest

from reporting_world import PEOPLE, TODAY, identity, project
from services.reporting import reports, value_models
from services.reporting.entities import value
from services.reporting.figures import money, rate
from services.reporting.memstore import MemoryStore

REPS = ("rep1", "rep2", "rep3", "rep4")


# --- the definition, computed over the whole list ----------------------------------------

def reference(rows: list[dict], model: str, as_of: date) -> dict:
    """ABC / RFM as first written: every row held, sorted, scored (rows: customer_id,
    c, deals, last_deal_on)."""
    rows = sorted(rows, key=lambda r: (-r["c"], r["customer_id"]))
    n, total = len(rows), sum(r["c"] for r in rows)
    if model == "abc":
        out, running = [], 0
        for r in rows:
            before = Decimal(running) / total if total else Decimal(1)
            klass = "A" if before < Decimal("0.7") else "B" if before < Decimal("0.9") else "C"
            running += r["c"]
            out.append((r["customer_id"], r["deals"], money(r["c"]), rate(r["c"], total),
                        rate(running, total), klass))
        return {"items": out, "total_amount": money(total)}

    def scores(values, better_high):
        ranked = sorted(values)
        found = []
        for v in values:
            at_or_below = (sum(x <= v for x in ranked) if better_high
                           else sum(x >= v for x in ranked))
            found.append(max(1, min(5, math.ceil(5 * at_or_below / n))))
        return found
    recency = [max((as_of - date.fromisoformat(r["last_deal_on"])).days, 0)
               if r["last_deal_on"] else 10 ** 6 for r in rows]
    rs, fs = scores(recency, False), scores([r["deals"] for r in rows], True)
    ms = scores([r["c"] for r in rows], True)
    return {"items": [(r["customer_id"], r["last_deal_on"], r["deals"], money(r["c"]), R, F, M)
                      for r, R, F, M in zip(rows, rs, fs, ms)]}


def shape(report: dict) -> list[tuple]:
    if report["model"] == "abc":
        return [(i["customer_id"], i["deals"], i["amount"], i["share"], i["cumulative_share"],
                 i["class"]) for i in report["items"]]
    return [(i["customer_id"], i["last_deal_on"], i["frequency"], i["monetary"], i["r"],
             i["f"], i["m"]) for i in report["items"]]


# --- a history with ties, shared customers, moves and deletions ---------------------------

def history(ev, seed: int, customers: int = 40, opportunities: int = 90):
    rnd = random.Random(seed)
    events = [ev.user(u) for u in PEOPLE]
    owners = {}
    for number in range(customers):
        cid = f"c{number:03d}"
        owners[cid] = rnd.choice(REPS + (None,))
        events.append(ev.customer(cid, owners[cid]))
    # amounts in few buckets (3 significant digits) and many ties: the bucket walks
    # read rows, the ties straddle pages
    amounts = ["100.00", "100.05", "100.90", "101.00", "250.00", "9.99", "0.00", "5000.00",
               "12345.67", "1.00"]
    won = {}
    for number in range(opportunities):
        oid = f"o{number:03d}"
        cid = rnd.choice(list(owners))
        owner = rnd.choice(REPS + (None,))
        region = PEOPLE[owner][3] if owner else "east"
        events.append(ev.opportunity(oid, owner, rnd.choice(amounts), customer=cid,
                                     region=region))
        if rnd.random() < 0.8:
            signed = None if rnd.random() < 0.1 else \
                f"2026-{rnd.randint(1, 11):02d}-{rnd.randint(1, 28):02d}"
            won[oid] = ev.won(oid, rnd.choice(amounts), signed or "2026-11-20")
            if signed is None:  # a win with no signing day known (dropped from the data)
                won[oid]["data"]["signed_on"] = None
            events.append(won[oid])
    for oid in rnd.sample(sorted(won), 5):  # a won deal moved to another customer
        events.append(ev("opportunity.updated", oid,
                         {"customer_id": rnd.choice(list(owners))}))
    for cid in rnd.sample(sorted(owners), 3):
        events.append(ev("customer.deleted", cid, {}, actor="admin"))
    return events


def rows_of(store: MemoryStore) -> list[dict]:
    """Every customer's value, from the per-owner counters the way the list path reads
    them (the admin's whole organisation)."""
    directory = store.list_directory()
    return reports._value_items(store, {e["_id"]: e for e in directory})


@pytest.fixture(params=[1, 2, 3])
def world(request, ev):
    events = history(ev, request.param)
    try:
        store = project(events)
    except Exception as error:  # an event the builders cannot shape: the test says so
        pytest.fail(f"history: {error!r}")
    return store, events


def all_pages(store, viewer, model, per_page, **kw) -> tuple[list, dict]:
    first = reports.customer_value(store, viewer, model=model, as_of=TODAY, page=1,
                                   per_page=per_page, **kw)
    items = list(first["items"])
    for page in range(2, -(-first["total"] // per_page) + 1):
        items += reports.customer_value(store, viewer, model=model, as_of=TODAY, page=page,
                                        per_page=per_page, **kw)["items"]
    return items, first


@pytest.mark.parametrize("model", ["abc", "rfm"])
@pytest.mark.parametrize("per_page", [1, 7, 100])
def test_the_admins_pages_are_the_definition(world, model, per_page):
    store, _ = world
    admin = identity("admin")
    items, first = all_pages(store, admin, model, per_page)
    rows = rows_of(store)
    expected = reference(rows, model, TODAY)
    assert first["total"] == len(rows) == len(items) > 20
    assert first["page"] == 1 and first["per_page"] == per_page
    assert shape({"model": model, "items": items}) == expected["items"]
    whole = reports.customer_value(store, admin, model=model, as_of=TODAY, page=None)
    assert shape({"model": model, "items": list(whole["items"])}) == expected["items"]
    if model == "abc":
        assert first["total_amount"] == expected["total_amount"]
        counts = {}
        for item in expected["items"]:
            counts[item[-1]] = counts.get(item[-1], 0) + 1
        assert {c["class"]: c["count"] for c in first["classes"]} == {
            k: counts.get(k, 0) for k in "ABC"}
        amounts = {k: sum(Decimal(i[2]) for i in expected["items"] if i[-1] == k)
                   for k in "ABC"}
        assert {c["class"]: Decimal(c["amount"]) for c in first["classes"]} == amounts


@pytest.mark.parametrize("model", ["abc", "rfm"])
def test_store_and_list_paths_answer_alike(world, model, monkeypatch):
    store, _ = world
    admin = identity("admin")
    from_store = [reports.customer_value(store, admin, model=model, as_of=TODAY, page=p,
                                         per_page=9) for p in (1, 2, 3, 9)]
    monkeypatch.setattr(MemoryStore, "value_model_ready", lambda self: False)
    from_list = [reports.customer_value(store, admin, model=model, as_of=TODAY, page=p,
                                        per_page=9) for p in (1, 2, 3, 9)]
    assert from_store == from_list
    assert from_store[-1]["items"] == []  # past the end: no items, the same figures


def test_the_value_states_do_not_depend_on_order_or_duplicates(ev):
    events = history(ev, 4)
    in_order = project(events)
    shuffled = events[:]
    random.Random(5).shuffle(shuffled)
    # users first: a person known only from a record's hint keeps another home
    users = [e for e in shuffled if e["type"].startswith("user.")]
    again = project(users + [e for e in shuffled if not e["type"].startswith("user.")]
                    + shuffled[::7])
    admin = identity("admin")
    for model in ("abc", "rfm"):
        assert reports.customer_value(in_order, admin, model=model, as_of=TODAY,
                                      page=None)["total"] == \
            reports.customer_value(again, admin, model=model, as_of=TODAY, page=None)["total"]
        assert shape({"model": model, "items": list(reports.customer_value(
            in_order, admin, model=model, as_of=TODAY, page=None)["items"])}) == shape(
            {"model": model, "items": list(reports.customer_value(
                again, admin, model=model, as_of=TODAY, page=None)["items"])})


@pytest.mark.parametrize("user", ["rep1", "sup1", "mgr1", "mgr2"])
def test_others_page_what_they_see(world, user):
    """A rep sees their own customers' deals only; totals and figures are those of what
    the caller sees (the whole list's, paged)."""
    store, _ = world
    viewer = identity(user)
    directory = store.list_directory()
    from services.reporting.access import visible_entries
    rows = reports._value_items(store, visible_entries(store, viewer, directory=directory))
    for model in ("abc", "rfm"):
        items, first = all_pages(store, viewer, model, 4)
        assert first["total"] == len(rows) == len(items)
        assert shape({"model": model, "items": items}) == reference(rows, model,
                                                                     TODAY)["items"]
    if user == "rep1":
        mine = {r["customer_id"] for r in rows_of(store)} & {r["customer_id"] for r in rows}
        assert mine == {r["customer_id"] for r in rows}
        whole = {r["customer_id"]: r for r in rows_of(store)}
        # a customer others sold to as well: the rep's part only
        assert all(r["c"] <= whole[r["customer_id"]]["c"] for r in rows)


# --- the pieces ----------------------------------------------------------------------------

def test_amount_buckets_and_sort_keys_order_the_amounts():
    amounts = [-5, 0, 1, 42, 999, 1000, 1009, 1010, 9999, 10000, 12345, 99999, 10 ** 12 + 7]
    keys = [value.amount_key(a) for a in amounts]
    for amount, key in zip(amounts, keys):
        for bounds in (value.key_bounds(key), value.key_bounds(key[:4])):  # fine, coarse
            assert bounds[0] <= amount <= bounds[1]
        first, past = value.range_keys(*value.key_bounds(key))
        assert first <= value.sort_key(amount, "zz") < past
        assert value.amount_of(value.sort_key(amount, "c1")) == amount
    assert value.amount_key(1000) == value.amount_key(1009) != value.amount_key(1010)
    assert sorted(keys) == keys  # (digits, mantissa) ascends with the amount
    ordered = sorted((-a, c) for a in amounts for c in ("c1", "c10", "c2"))
    assert sorted(value.sort_key(-a, c) for a, c in ordered) == [
        value.sort_key(-a, c) for a, c in ordered]


def test_parts_move_forward_only():
    state = value.new_state("c1")
    state = value.with_part(state, "o1", 2, {"c": 500, "on": "2026-11-01"})
    assert value.with_part(state, "o1", 1, None) is None  # older: ignored
    assert value.with_part(state, "o1", 2, {"c": 1, "on": None}) is None  # same: once
    gone = value.with_part(state, "o1", 3, None)
    assert value.totals(gone) == (0, 0, None) and value.rank(gone) is None
    assert value.with_part(gone, "o1", 2, {"c": 500, "on": None}) is None  # tombstone
    two = value.with_part(state, "o2", 1, {"c": 300, "on": "2026-11-05"})
    assert value.totals(two) == (2, 800, "2026-11-05")
    assert value.rank(two) == value.sort_key(800, "c1")
    assert value.contributions(value.with_deleted(two)) == {}


def test_list_ranked_windows_and_boundaries():
    rows = [{"customer_id": f"c{i}", "c": c, "deals": 1, "last_deal_on": None}
            for i, c in enumerate([700, 200, 50, 50, 0])]
    ranked = value_models.ListRanked(rows)
    assert ranked.boundary(7, 10) == (1, 700) and ranked.boundary(9, 10) == (2, 900)
    before, page = ranked.window(2, 2)
    assert before == 900 and [r["gt"] for r in page] == [2, 2]
    assert ranked.window(9, 2) == (1000, [])


def test_a_page_reads_from_its_own_bucket(world):
    """A later page reads the rows of the fine bucket it starts in, not every row
    before it."""
    store, _ = world
    ranked = value_models.StoreRanked(store)
    reads = []
    original = store.value_ranked

    def counting(low, high, limit, **kw):
        found = original(low, high, limit, **kw)
        reads.append(len(found))
        return found
    store.value_ranked = counting
    before, rows = ranked.window(ranked.n - 3, 2)
    assert len(rows) == 2 and reads and max(reads) < ranked.n - 3
    assert before == value_models.ListRanked(rows_of(store)).window(ranked.n - 3, 2)[0]


def test_an_export_holds_every_row_streamed(world):
    """format=csv: every customer, not a page, read as the CSV is written."""
    from services.reporting import render
    from services.reporting.handlers import ReportingHandlers

    store, _ = world
    handlers = ReportingHandlers(store)
    payload = handlers.report("customer-value", identity("admin"), {
        "model": "abc", "format": "csv", "as_of": TODAY, "page": 1, "per_page": 5})
    body, _, _ = render.render("customer-value", payload, "csv", stream=True)
    pieces = list(body)
    lines = b"".join(pieces).decode("utf-8-sig").splitlines()
    assert len(lines) == 1 + payload["total"] > 5
    json_page = handlers.report("customer-value", identity("admin"), {
        "model": "abc", "format": "json", "as_of": TODAY, "page": 2, "per_page": 5})
    assert [i["customer_id"] for i in json_page["items"]] == [
        line.split(",")[0] for line in lines[6:11]]
