"""Benchmark of search and lists at scale (issue 14, item 3), through the gateway.

Each search kind is timed as p50/p99 against an anchor measured in the same run: an
authenticated GET of one customer by id through the gateway (the cheapest read).

  - q by a 2-character Chinese substring of a name (商策: common, often past the
    search's count limit), by a pinyin prefix, by pinyin initials, by the last 4-6
    digits of a contact's phone, by a customer number;
  - GET /pool with filters (status, level, industry, region, claimed), as a rep;
  - GET /pool?q= by a 2-character Chinese substring (common) or a phone's first digits
    (private: the pool finds none but the rep's own), as a rep.

    .venv/bin/python bench/search.py [--data DIR] [--customers 20000] [--seconds 8]
        [--threads 4] [--no-export]

With --data it runs on a data folder loaded by bench/dataset.py (kept). Without it,
`crm up` starts on a fresh folder and --customers customers are written straight into
the customer service's database through its repository, in chunks of 500 (the import
path: the documents and their search rows), not one HTTP call each.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import threading
import time
import urllib.request
import uuid
from urllib.parse import quote
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ROOT, System, result, run_load, show  # noqa: E402

sys.path.insert(0, str(ROOT))

from crm.client import Org  # noqa: E402

API = "/api/v1/customers"
TARGET_MS = 100.0
WORDS = ["商策", "华信", "云帆", "浦江", "申远", "绿源", "西溪", "钱塘", "京北", "海港",
         "金桥", "东方", "恒达", "中联", "天成", "瑞丰", "博远", "启明", "星河", "鼎盛"]
TRADES = ["科技", "贸易", "物流", "机械", "食品", "教育", "医疗", "能源"]
PLACES = ["上海", "北京", "杭州", "深圳", "广州", ""]
REGIONS = ["east", "north", "south"]
# the owners: 2,000 reps in 60 teams of the 3 regions (issue 14), each customer owned by
# one at random or in the pool; a planner's statistics see real ownership, not one owner
OWNERS = 2000
TEAMS = 60


def customer_db(data_dir: str):
    from pymongo import MongoClient

    state = json.loads((Path(data_dir) / "ferretdb.json").read_text())
    return MongoClient(state["url"])["crm_customer"]


def load(data_dir: str, count: int, chunk: int = 500) -> float:
    """Write `count` customers through the repository's import path; rows/s."""
    from crmkit.identity import Identity
    from services.customer.domain import Customer
    from services.customer.ownership import Owner
    from services.customer.repository import CustomerRepository

    repo = CustomerRepository(customer_db(data_dir))
    admin = Identity("bench-admin", "bench", "Bench", "admin", "east", "east")

    def owner(n: int) -> Owner:
        region = REGIONS[n % len(REGIONS)]
        return Owner(f"bench-rep-{n:04d}", f"{region}/team-{n % TEAMS}", region)
    owners = [owner(n) for n in range(OWNERS)]
    now = datetime.now(timezone.utc)
    stamp = now.strftime("%Y%m%d")
    began, written = time.monotonic(), 0
    for start in range(0, count, chunk):
        customers = []
        for n in range(start, min(count, start + chunk)):
            name = (f"{random.choice(PLACES)}{random.choice(WORDS)}{random.choice(TRADES)}"
                    f"{uuid.uuid4().hex[:4]}有限公司")
            number = f"CRM{stamp}{n + 1:06d}"
            holder = random.choice(owners)
            customer = Customer.create(
                admin, {"name": name, "industry": random.choice(TRADES),
                        "status": random.choice(["potential", "intent", "deal", "lost"]),
                        "level": random.choice("ABCD"), "region": random.choice(REGIONS),
                        "primary_contact": {"name": f"联系人{n}",
                                            "phone": f"139{random.randrange(10**8):08d}"}},
                customer_id=number, number=number, contact_id=uuid.uuid4().hex,
                now=now, in_pool=n % 2 == 0,
                owner=None if n % 2 == 0 else holder, owner_name=f"Rep {holder.user_id}")
            customers.append(customer)
        chunk_id = uuid.uuid4().hex
        repo.insert_import_chunk(chunk_id, "bench", customers, [], now)
        written += len(customers)
        if written % 5000 < chunk:
            print(f"bench: {written:,} customers written "
                  f"({written / (time.monotonic() - began):,.0f}/s)", file=sys.stderr, flush=True)
    return written / (time.monotonic() - began)


def samples(data_dir: str, size: int = 300) -> list[dict]:
    """Customers to search for: name, number, phone, pinyin (read from the database)."""
    db = customer_db(data_dir)
    docs = list(db["customers"].find({"deleted": False}, {
        "name": 1, "number": 1, "contacts": 1, "name_pinyin": 1, "name_initials": 1})
        .limit(size * 20))
    return random.sample(docs, min(size, len(docs)))


def customer_api_pids(system) -> list[int]:
    """The customer service's API processes of this system (its process group)."""
    pids = []
    group = os.getpgid(system.process.pid)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().split(b"\0")
            if os.getpgid(int(entry.name)) == group and b"serve" in words and \
                    b"customer" in words:
                pids.append(int(entry.name))
        except (OSError, ProcessLookupError):
            continue
    return pids


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def export(system, token: str, fmt: str) -> dict:
    """One GET /customers/export: time to the first byte, in all, and the customer API's
    resident memory sampled every 50 ms meanwhile (its peak over its start)."""
    pids = customer_api_pids(system)
    before = rss_mb(pids)
    peak, done = [before], threading.Event()

    def sample():
        while not done.wait(0.05):
            peak.append(rss_mb(pids))
    threading.Thread(target=sample, daemon=True).start()
    request = urllib.request.Request(f"{system.base_url}{API}/export?format={fmt}",
                                     headers={"Authorization": f"Bearer {token}"})
    began = time.perf_counter()
    size = 0
    with urllib.request.urlopen(request, timeout=600) as reply:
        first = reply.read(1)
        first_byte = time.perf_counter() - began
        size = len(first)
        while chunk := reply.read(1 << 16):
            size += len(chunk)
    done.set()
    return {"first_byte_s": first_byte, "total_s": time.perf_counter() - began,
            "mb": size / 1e6, "rss_before_mb": before, "rss_peak_mb": max(peak)}


def timed(session, paths: list[str], *, threads: int, seconds: float) -> dict:
    def call() -> bool:
        return session.get(random.choice(paths)).status_code == 200
    return run_load(call, threads=threads, seconds=seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a data folder loaded by bench/dataset.py")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--no-export", action="store_true",
                        help="leave the exports out (minutes each at 200,000 customers)")
    args = parser.parse_args()

    system = System(data_dir=args.data)
    try:
        if not args.data:
            rate = load(system.data_dir, args.customers)
            show("load (customers and search rows)", {"customers": args.customers,
                                                      "rows_per_s": rate})
        org: Org = system.org
        admin = org.admin
        rep = org.user("rep", "north/beijing/team-1", "north")
        picked = samples(system.data_dir)
        total = admin.get(f"{API}?per_page=1").json["total"]
        print(f"bench: {total:,} customers visible to the admin", file=sys.stderr)

        def phone(doc):
            return next((c.get("phone") or c.get("mobile") for c in doc.get("contacts") or []
                         if c.get("phone") or c.get("mobile")), "0000")

        kinds = {
            "cn2": [f"{API}?q={quote(random.choice(WORDS))}" for _ in range(50)],
            "cn2_of_name": [f"{API}?q={quote(d['name'][2:4])}" for d in picked],
            "pinyin_prefix": [f"{API}?q={d['name_pinyin'][:6]}" for d in picked],
            "initials": [f"{API}?q={d['name_initials'][:4]}" for d in picked],
            "phone_suffix": [f"{API}?q={phone(d)[-random.choice([4, 5, 6]):]}" for d in picked],
            "number": [f"{API}?q={d['number']}" for d in picked],
        }
        pool = [f"/api/v1/pool?{f}" for f in (
            "status=potential", "level=A&claimed=false", f"industry={quote('科技')}&status=intent",
            "region=east&level=B", "claimed=true&status=deal",
            f"industry={quote('物流')}&region=south",
            "status=lost&level=D&claimed=false", "sort=name&level=C")]
        pool_search = [f"/api/v1/pool?q={quote(random.choice(WORDS))}" for _ in range(40)]
        pool_search += [f"/api/v1/pool?q={phone(d)[:5]}" for d in picked[:10]]
        anchor_paths = [f"{API}/{d['_id']}" for d in picked]
        for session, paths in ((admin, anchor_paths), (admin, kinds["number"]), (rep, pool)):
            timed(session, paths, threads=1, seconds=1)   # warm-up
        anchor = timed(admin, anchor_paths, threads=args.threads, seconds=args.seconds)
        show("anchor: GET /customers/{id}", anchor)
        result("search.anchor_get_p99", anchor["p99_ms"], "ms",
               detail="GET one customer by id through the gateway")
        for name, paths in {**kinds, "pool_filters": pool, "pool_search": pool_search}.items():
            figures = timed(rep if name.startswith("pool") else admin, paths,
                            threads=args.threads, seconds=args.seconds)
            show(f"{name}", figures)
            for stat in ("p50", "p99"):
                result(f"search.{name}_{stat}", figures[f"{stat}_ms"], "ms",
                       anchor="GET /customers/{id} " + stat,
                       anchor_value=anchor[f"{stat}_ms"],
                       target=f"p99 <= {TARGET_MS:.0f} ms" if stat == "p99" else "",
                       passed=(figures["p99_ms"] <= TARGET_MS and not figures["errors"])
                       if stat == "p99" else None,
                       customers=total, errors=figures["errors"])
        for fmt in () if args.no_export else ("csv", "xlsx"):
            figures = export(system, admin.token, fmt)
            show(f"export {fmt}", figures)
            result(f"export.{fmt}_first_byte", figures["first_byte_s"], "s",
                   target="starts within 1 s", passed=figures["first_byte_s"] <= 1.0,
                   customers=total, total_s=figures["total_s"], mb=figures["mb"])
            result(f"export.{fmt}_peak_rss", figures["rss_peak_mb"], "MB",
                   anchor="customer API RSS before the export",
                   anchor_value=figures["rss_before_mb"], target="memory stays flat",
                   customers=total)
    finally:
        system.stop()


if __name__ == "__main__":
    main()
