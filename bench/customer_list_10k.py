"""The customer list and the pool with 10,000 customers, at the repository: a quicker
probe than bench/console_10k.py (which imports through the API and drives the console).

Customers are made by `Customer.create` and written as an import writes them
(bench/dataset.py), into a private FerretDB with the repository's own indexes; then
`CustomerRepository.list_page` / `pool_page` are timed (median of 3) for an admin and for
a rep, for every case issue 10 names: first page, each sortable column both ways, last
page, level=B, the pool. With --sql each case is run once more on a FerretDB logging
every statement, and the statements it ran are shown with their time and SQLite's plan.

    .venv/bin/python bench/customer_list_10k.py [--data DIR] [--sql] [--only WORD]

--data keeps the loaded folder for the next run (loaded only when empty). Owners: the
admin owns 40 % (as after an admin's import), one rep 40 %, 20 other reps the rest but
15 % in the pool; 3 % are deleted; the other reps share 5 % of theirs with the rep and 3 %
with its team.
"""
from __future__ import annotations

import argparse
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dataset  # noqa: E402  (puts the project on sys.path)

from crm.ferretdb import FerretServer  # noqa: E402
from crmkit.identity import Identity  # noqa: E402

N = 10_000
ADMIN = Identity("u-admin", "admin", "管理员", "admin", "hq", "east")
REP = Identity("u-rep", "rep", "张伟", "rep", "east/shanghai/team-1", "east")
OTHERS = [Identity(f"u-rep{i}", f"rep{i}", f"李{i}", "rep", f"east/shanghai/team-{i % 3 + 1}",
                   "east") for i in range(20)]
SUPERVISOR = Identity("u-sup", "sup", "王强", "supervisor", "east/shanghai", "east")


def load(url: str) -> None:
    """N customers as an import writes them (see bench/dataset.py load_customers)."""
    from pymongo import MongoClient

    from crmkit import nesting
    from crmkit.bus.outbox import outbox_fields
    from crmkit.events import to_envelopes
    from services.customer.documents import TERMS_PENDING, customer_doc
    from services.customer.domain import Customer
    from services.customer.handlers.base import new_id
    from services.customer.handlers.imports import PRODUCER
    from services.customer.repository import CustomerRepository
    import services.customer.schemas  # noqa: F401  (registers the event schemas)

    random.seed(10)
    repository = CustomerRepository(MongoClient(url)["crm_customer"])
    repository.ensure_indexes()
    owners = [ADMIN] * 40 + [REP] * 40 + OTHERS
    since = datetime.now(timezone.utc) - timedelta(days=400)
    docs, started = [], time.monotonic()
    for index, (name, _normalized) in enumerate(dataset.company_names(N)):
        number = f"C{index:07d}"
        in_pool = random.random() < 0.15
        actor = SUPERVISOR if in_pool else random.choice(owners)
        command = {
            "name": name, "status": dataset.weighted(dataset.STATUSES),
            "level": dataset.weighted(dataset.LEVELS),
            "industry": random.choice(dataset.INDUSTRIES), "source": random.choice(dataset.SOURCES),
            "tags": random.sample(dataset.TAGS, random.randint(0, 2)),
            "address": f"{random.randint(1, 999)}号",
            "primary_contact": {"name": random.choice(dataset.SURNAMES) + "伟",
                                "phone": f"13{random.randrange(10**9):09d}", "title": "总经理"}}
        # an import stamps a whole batch with one moment: ties in created_at, as in use
        now = since + timedelta(minutes=index // 50)
        customer = Customer.create(actor if actor.role != "admin" else
                                   Identity(**{**ADMIN.__dict__, "role": "rep"}), command,
                                   customer_id=number, number=number, contact_id=new_id(),
                                   now=now, in_pool=in_pool)
        envelopes = to_envelopes(customer.events, producer=PRODUCER, actor_id=actor.user_id)
        doc = {**customer_doc(customer), "history": nesting.encode(list(customer.log)),
               "interactions": [], **outbox_fields(envelopes)}
        doc.pop(TERMS_PENDING)
        doc["deleted"] = random.random() < 0.03
        if actor in OTHERS:   # as colleagues share: some with the rep, some with its team
            shared = random.random()
            doc["shared_with"] = [REP.user_id] if shared < 0.05 else []
            doc["shared_teams"] = [REP.team] if 0.05 <= shared < 0.08 else []
        docs.append(doc)
        if len(docs) == 250:
            repository.terms.insert_for_new(docs)
            repository.customers.insert_many(docs, ordered=False)
            docs.clear()
    if docs:
        repository.terms.insert_for_new(docs)
        repository.customers.insert_many(docs, ordered=False)
    # a relayed outbox is empty (what the list reads once the events are out)
    repository.customers.update_many({}, {"$set": {"_outbox": [], "_outbox_pending": False}})
    print(f"loaded {N} customers in {time.monotonic() - started:.0f}s", flush=True)


def cases():
    from services.customer.repository import PUBLIC_SORTABLE, SORTABLE

    base = {"page": 1, "per_page": 20}
    for who in (ADMIN, REP):
        scopes = ("all", "mine") if who is ADMIN else ("mine", "shared", "all")
        for scope in scopes:
            yield who, "list", f"scope={scope}", {**base, "scope": scope}
        for field in SORTABLE:
            for sort in (field, "-" + field):
                yield who, "list", f"sort={sort}", {**base, "scope": "all", "sort": sort}
        yield who, "list", "level=B", {**base, "scope": "all", "level": "B"}
        yield who, "list", "level=B&sort=-created_at", {**base, "scope": "all", "level": "B",
                                                       "sort": "-created_at"}
        for sort in (None, "-name"):
            yield who, "list", f"last page sort={sort}", {**base, "scope": "all", "sort": sort,
                                                          "page": "last"}
        yield who, "pool", "first page", dict(base)
        for sort in PUBLIC_SORTABLE:
            yield who, "pool", f"sort={sort}", {**base, "sort": sort}
        yield who, "pool", "level=B", {**base, "level": "B"}
        yield who, "pool", "last page", {**base, "page": "last"}
        # the export streams: what counts is how soon its first row is read
        for sort in (None, "name"):
            yield who, "export", f"first row sort={sort}", {**base, "scope": "all",
                                                            "sort": sort}


def run(repository, who, kind, query):
    from crmkit.clock import zone
    from services.customer.repository import Page

    tz = zone("Asia/Shanghai")
    if kind == "export":
        rows = repository.export_rows(who, query, tz=tz, limit=250_000)
        return Page([next(rows, None)], 1)
    page = repository.list_page if kind == "list" else repository.pool_page
    if query["page"] == "last":
        total = page(who, {**query, "page": 1}, tz=tz).total
        query = {**query, "page": max(1, -(-total // query["per_page"]))}
    return page(who, query, tz=tz)


def timed(repository, selected) -> None:
    print(f"{'viewer':6} {'what':5} {'case':28} {'total':>6} {'ms (median of 3)':>17}")
    slow = 0
    for who, kind, label, query in selected:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            result = run(repository, who, kind, query)
            times.append((time.perf_counter() - started) * 1000)
        median = statistics.median(times)
        slow += median > 300
        print(f"{who.role:6} {kind:5} {label:28} {result.total:>6} {median:>10.0f}"
              f"{'   > 300 ms' if median > 300 else ''}", flush=True)
    print(f"{slow} case(s) over 300 ms")


STATEMENT = re.compile(r'msg="<<< (?P<sql>(?:[^"\\]|\\.)*)".*? time=(?P<time>[0-9.]+[µnm]?s)')


def explained(folder: Path, repository, server_log: Path, selected) -> None:
    """Each case once more; the SQL FerretDB ran for it, with its time and plan."""
    database = sqlite3.connect(f"file:{folder}/crm_customer.sqlite?mode=ro", uri=True)
    for who, kind, label, query in selected:
        offset = server_log.stat().st_size
        run(repository, who, kind, query)
        time.sleep(0.2)
        with server_log.open(errors="replace") as log:
            log.seek(offset)
            text = log.read()
        print(f"\n== {who.role} {kind} {label}")
        for match in STATEMENT.finditer(text):
            sql = match["sql"].encode().decode("unicode_escape").encode("latin-1").decode()
            if not sql.startswith("SELECT") or "_ferretdb_database_metadata" in sql:
                continue
            print(f"-- {match['time']}: {sql[:300]}{' ...' if len(sql) > 300 else ''}")
            try:
                plan = database.execute("EXPLAIN QUERY PLAN " + sql,
                                        [None] * sql.count("?")).fetchall()
                for row in plan:
                    print(f"     {row[3]}")
            except sqlite3.Error as error:
                print(f"     (no plan: {error})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", help="a folder to keep the data in (loaded when empty)")
    parser.add_argument("--sql", action="store_true", help="show each case's SQL and plan")
    parser.add_argument("--only", help="only the cases whose label holds this")
    args = parser.parse_args()
    from pymongo import MongoClient

    from services.customer.repository import CustomerRepository

    folder = Path(args.data or tempfile.mkdtemp(prefix="crm-list-10k-"))
    selected = [c for c in cases() if not args.only or args.only in f"{c[0].role} {c[1]} {c[2]}"]
    fresh = not (folder / "crm_customer.sqlite").exists()
    if fresh:
        with FerretServer(folder) as server:
            load(server.url)
    with FerretServer(folder) as server:   # as after a restart: the load's WAL folded in
        repository = CustomerRepository(MongoClient(server.url)["crm_customer"])
        repository.ensure_indexes()
        timed(repository, selected)
    if args.sql:
        with FerretServer(folder, log_level="debug") as server:
            repository = CustomerRepository(MongoClient(server.url)["crm_customer"])
            explained(folder, repository, folder / "ferretdb.log", selected)
    print(f"data: {folder}")


if __name__ == "__main__":
    main()
