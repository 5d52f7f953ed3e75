"""Benchmark of customer writes, in process, against the database the service runs on
(issue 14: a write of a customer also keeps its search rows, terms_repository.py).

Each round, on a fresh chunk of --count customers, one after another (one thread):
  - anchor: a plain `insert_one` of a document the size of a customer's (its fields,
    log and term arrays) into a collection with only the `_id` index;
  - create: Customer.create + CustomerRepository.insert (what POST /customers writes,
    without the number and name reservations, which are the same before and after);
  - save, no term changed: load, change the level, save (the command runner of the
    service: `CustomerHandlers.change`), as a claim, an assign or a follow-up saves;
  - save, name changed: the same with a new name (every name term changes).
Reported: customers/s of each against the anchor of the same round (best of --rounds:
the machine is shared), and the database commands each write sent (round trips).

    .venv/bin/python bench/customer_writes.py [--count 400] [--rounds 3]

MONGO_URL picks the database; without it the benchmark starts FerretDB 1.24 (the server
`crm up` runs) on a temporary folder and stops it afterwards (bench/_database.py).
"""
from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from pymongo import MongoClient, monitoring  # noqa: E402

from _database import local_database  # noqa: E402
from _harness import result, show  # noqa: E402

from crmkit import nesting  # noqa: E402
from crmkit.identity import Identity  # noqa: E402
from services.customer.documents import customer_doc  # noqa: E402
from services.customer.domain import Customer  # noqa: E402
from services.customer.handlers import CustomerHandlers  # noqa: E402
from services.customer.repository import CustomerRepository  # noqa: E402

WORDS = ["商策", "华信", "云帆", "浦江", "申远", "绿源", "西溪", "钱塘", "京北", "海港"]
TRADES = ["科技", "贸易", "物流", "机械", "食品", "教育", "医疗", "能源"]
PLACES = ["上海", "北京", "杭州", "深圳", ""]
ADMIN = Identity("bench-admin", "bench", "Bench", "admin", "east", "east")
TARGET = "writes cost little more than the anchor insert (issue 14)"


class Commands(monitoring.CommandListener):
    """Counts the commands sent to the database (each one round trip)."""

    def __init__(self):
        self.count = 0

    def started(self, event):
        self.count += 1

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def company() -> str:
    return (f"{random.choice(PLACES)}{random.choice(WORDS)}{random.choice(TRADES)}"
            f"{uuid.uuid4().hex[:5]}有限公司")


def new_customer(n: int, stamp: str) -> Customer:
    number = f"CRM{stamp}{n:06d}"
    return Customer.create(
        ADMIN, {"name": company(), "industry": random.choice(TRADES), "status": "potential",
                "level": random.choice("ABCD"), "tags": ["重点"],
                "primary_contact": {"name": f"联系人{n}",
                                    "phone": f"139{random.randrange(10**8):08d}"}},
        customer_id=number, number=number, contact_id=uuid.uuid4().hex,
        now=datetime.now(timezone.utc), in_pool=n % 2 == 0)


def timed(items, write, commands: Commands) -> tuple[float, float]:
    """customers/s and commands per customer of `write` over `items`."""
    sent = commands.count
    began = time.perf_counter()
    for item in items:
        write(item)
    elapsed = time.perf_counter() - began
    return len(items) / elapsed, (commands.count - sent) / len(items)


def round_(db, handlers, commands: Commands, count: int, first: int) -> dict:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d")
    repository = handlers.repository
    customers = [new_customer(first + n, stamp) for n in range(count)]
    # the anchor: documents as big as the customers', in a collection with only `_id`
    anchor_docs = [{**customer_doc(c), "_id": uuid.uuid4().hex,
                    "history": nesting.encode(list(c.log)), "interactions": []}
                   for c in customers]
    anchor = db["bench_anchor"]
    figures = {"anchor": timed(anchor_docs, anchor.insert_one, commands)}
    figures["create"] = timed(customers, lambda c: repository.insert(c, []), commands)

    def relevel(customer: Customer):
        level = "A" if customer.level != "A" else "B"
        handlers.change(customer.id, ADMIN, lambda c: c.update(ADMIN, {"level": level}))

    def rename(customer: Customer):
        handlers.change(customer.id, ADMIN, lambda c: c.update(ADMIN, {"name": company()}))

    figures["save_no_term"] = timed(customers, relevel, commands)
    figures["save_name"] = timed(customers, rename, commands)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400, help="customers per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    commands = Commands()
    with local_database() as url:
        client = MongoClient(url, event_listeners=[commands])
        try:
            db = client[f"bench_customer_writes_{uuid.uuid4().hex[:8]}"]
            repository = CustomerRepository(db)
            repository.ensure_indexes()
            print(f"customers indexes: {len(repository.customers.index_information())}",
                  flush=True)
            handlers = CustomerHandlers(repository, None)
            best: dict[str, tuple[float, float]] = {}
            for n in range(args.rounds):
                figures = round_(db, handlers, commands, args.count, n * args.count)
                show(f"round {n + 1}", {k: v[0] for k, v in figures.items()})
                for key, value in figures.items():
                    if key not in best or value[0] > best[key][0]:
                        best[key] = value
            anchor, anchor_commands = best.pop("anchor")
            result("customer_writes.anchor_insert", anchor, "customers/s",
                   commands_per_customer=anchor_commands)
            for key, (value, sent) in best.items():
                result(f"customer_writes.{key}", value, "customers/s",
                       anchor="plain insert_one, _id index only", anchor_value=anchor,
                       target=TARGET, commands_per_customer=round(sent, 2),
                       count=args.count, rounds=args.rounds)
        finally:
            client.close()


if __name__ == "__main__":
    main()
