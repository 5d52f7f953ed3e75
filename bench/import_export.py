"""Benchmark of the customer import and export, through the gateway of `crm up`.

  1. anchors, in the same run against the same FerretDB: the xlsx read alone (openpyxl
     read-only, what the import used to read with) and a plain `insert_many` of as many
     documents as the import writes (the customer documents it would make, in its chunk
     size, into a collection of a scratch database without indexes): the database's
     floor for writing those rows;
  2. import: POST /customers/import of a --rows row xlsx (names, contacts, phones,
     levels, tags) → rows/s (target ≥ 2,000 rows/s); with --respond-async sent as the
     console sends it (`Prefer: respond-async`: 202, then its status polled every
     0.5 s until done), timed from the POST to the status saying done;
  3. export: GET /customers/export?format=csv of everything the admin sees: time to the
     first byte (target ≤ 1 s), total time, and the peak RSS of the customer API
     processes meanwhile (VmHWM, reset just before) against their RSS before it.

    .venv/bin/python bench/import_export.py [--rows 50000] [--data DIR]
        [--format csv|xlsx] [--respond-async]

With --data it runs on a loaded data folder (bench/dataset.py; its customers are then
exported too), else on a fresh one.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import System, group_processes, result, show  # noqa: E402
from customers import import_sheet, xlsx  # noqa: E402

API = "/api/v1/customers"
WORDS = "华信云帆浦江申远绿源西溪钱塘京北海港金桥东方恒达中联天成瑞丰博远鼎盛宏图嘉禾融创"
TRADES = ("科技", "贸易", "物流", "机械", "食品", "教育", "医疗", "能源")
HEADER = ["客户名称", "行业", "状态", "等级", "来源", "标签", "地址", "联系人", "联系电话",
          "邮箱", "职位"]


def sheet_rows(count: int) -> list[list]:
    run = uuid.uuid4().hex[:6]
    rows = [HEADER]
    for n in range(count):
        words = "".join(random.choice(WORDS) for _ in range(4))
        rows.append([f"{random.choice(['上海', '北京', '杭州', '深圳'])}{words}"
                     f"{random.choice(TRADES)}{run}{n}有限公司", random.choice(TRADES),
                     random.choice(["潜在客户", "意向客户", "成交客户"]), random.choice("ABCD"),
                     random.choice(["官网", "展会", "转介绍"]),
                     random.choice(["重点", "华东、新客", ""]), f"{n}号",
                     f"联系人{n}", f"1{random.choice('3589')}{n:09d}", f"c{n}@example.cn",
                     random.choice(["总经理", "采购经理"])])
    return rows


def openpyxl_read_seconds(content: bytes) -> float:
    from openpyxl import load_workbook

    began = time.perf_counter()
    book = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    for _ in book.worksheets[0].iter_rows(values_only=True):
        pass
    book.close()
    return time.perf_counter() - began


def insert_anchor(url: str, rows: list[list]) -> float:
    """Seconds a plain insert_many of the documents the import would write takes."""
    from pymongo import MongoClient

    from crmkit.identity import Identity
    from services.customer import transfer
    from services.customer.documents import customer_doc
    from services.customer.domain import Customer
    from services.customer.handlers.imports import IMPORT_CHUNK

    actor = Identity("bench", "bench", "Bench", "admin", "hq", "hq")
    fields = transfer.header_fields(rows[0])
    docs = []
    for n, cells in enumerate(rows[1:]):
        command = transfer.row_command(fields, cells)
        customer = Customer.create(actor, command, customer_id=f"A{n:08d}", number=f"A{n:08d}",
                                   contact_id=uuid.uuid4().hex)
        docs.append(customer_doc(customer))
    client = MongoClient(url)
    scratch = client[f"bench_anchor_{os.getpid()}"]
    try:
        began = time.perf_counter()
        for start in range(0, len(docs), IMPORT_CHUNK):
            scratch.customers.insert_many(docs[start:start + IMPORT_CHUNK], ordered=False)
        return time.perf_counter() - began
    finally:
        client.drop_database(scratch.name)
        client.close()


def customer_total(base_url: str, token: str) -> int:
    request = urllib.request.Request(base_url + f"{API}?scope=all&per_page=1",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())["total"]


def wait_written(base_url: str, token: str, before: int, elapsed: float) -> tuple[int, float]:
    """(customers the import wrote, seconds from its start to the last of them), once
    the count has not grown for 30 s."""
    began = time.perf_counter() - elapsed
    last, last_at, quiet_since = -1, elapsed, time.perf_counter()
    while time.perf_counter() - quiet_since < 30:
        count = customer_total(base_url, token) - before
        if count != last:
            last, last_at, quiet_since = count, time.perf_counter() - began, time.perf_counter()
        time.sleep(2)
    return last, last_at


def follow_run(base_url: str, token: str, location: str) -> dict:
    """The import run at `location` once finished (its status polled every 0.5 s)."""
    while True:
        request = urllib.request.Request(base_url + location,
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=60) as reply:
            run = json.loads(reply.read())
        if run["state"] == "done":
            return run["result"]
        if run["state"] == "failed":
            raise SystemExit(f"the import run failed: {run['error']}")
        time.sleep(0.5)


def customer_api_pids(system: System) -> list[int]:
    """The customer service's API processes of this system (gunicorn master and workers)."""
    return [pid for pid, command, _ in group_processes({system.process.pid})
            if {"serve", "customer"} <= set(command.split())]


def memory_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def reset_peak(pid: int) -> None:
    """Start VmHWM afresh (Linux: 5 → clear_refs resets the peak RSS)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def export(base_url: str, token: str, fmt: str, pids: list[int]) -> dict:
    """Download the whole export; first byte, total, bytes and RSS figures."""
    before = {pid: memory_kb(pid, "VmRSS") for pid in pids}
    for pid in pids:
        reset_peak(pid)
    peak_seen = dict(before)
    done = threading.Event()

    def sample() -> None:       # besides VmHWM: where clear_refs is refused
        while not done.wait(0.05):
            for pid in pids:
                peak_seen[pid] = max(peak_seen[pid], memory_kb(pid, "VmRSS"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    request = urllib.request.Request(base_url + f"{API}/export?format={fmt}&scope=all",
                                     headers={"Authorization": f"Bearer {token}"})
    began = time.perf_counter()
    first, size = None, 0
    with urllib.request.urlopen(request, timeout=1800) as reply:
        while True:
            chunk = reply.read1(65536) if hasattr(reply, "read1") else reply.read(65536)
            if not chunk:
                break
            if first is None:
                first = time.perf_counter() - began
            size += len(chunk)
    total = time.perf_counter() - began
    done.set()
    sampler.join()
    peaks = {pid: max(memory_kb(pid, "VmHWM"), peak_seen[pid]) for pid in pids}
    busiest = max(pids, key=lambda pid: peaks[pid] - before[pid])
    return {"first_byte_s": first or total, "total_s": total, "bytes": size,
            "rss_before_mb": before[busiest] / 1024, "rss_peak_mb": peaks[busiest] / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--data", metavar="DIR", help="a loaded data folder (bench/dataset.py)")
    parser.add_argument("--format", choices=["csv", "xlsx"], default="csv",
                        help="of the export")
    parser.add_argument("--respond-async", action="store_true",
                        help="import with Prefer: respond-async (202, then its status)")
    args = parser.parse_args()

    rows = sheet_rows(args.rows)
    content = xlsx(rows)
    print(f"sheet: {args.rows:,} rows, {len(content) / 1e6:.1f} MB", flush=True)
    system = System(data_dir=args.data)
    try:
        url = json.loads((Path(system.data_dir) / "ferretdb.json").read_text())["url"]
        read_s = openpyxl_read_seconds(content)
        insert_s = insert_anchor(url, rows)
        show("anchors", {"openpyxl_rows_s": args.rows / read_s,
                         "insert_many_rows_s": args.rows / insert_s})
        token = system.org.admin.token
        before = customer_total(system.base_url, token)
        began = time.perf_counter()
        status, body, seconds = import_sheet(system.base_url, token, content,
                                             "customers.xlsx", False, timeout=1800,
                                             respond_async=args.respond_async)
        if status == 202:
            print(f"import: accepted in {seconds:.2f} s; following its run", flush=True)
            body = follow_run(system.base_url, token, f"{API}/imports/{body['id']}")
            seconds = time.perf_counter() - began
        elif status == 504:
            # the gateway gave up waiting (its import timeout); the service goes on:
            # the import is timed by the customers it writes, until they stop growing
            print("import: the gateway timed out; counting the customers written",
                  flush=True)
            created, seconds = wait_written(system.base_url, token, before, seconds)
            body = {"created": created, "duplicates": [], "errors": []}
        elif status != 200:
            raise SystemExit(f"import answered {status}: {str(body)[:500]}")
        created = body["created"]
        rate = args.rows / seconds
        show("import", {"rows": args.rows, "created": created,
                        "duplicates": len(body["duplicates"]), "errors": len(body["errors"]),
                        "seconds": seconds, "rows_s": rate})
        insert_rate = args.rows / insert_s
        result("import xlsx rows/s", rate, "rows/s",
               anchor="plain insert_many of the same documents", anchor_value=insert_rate,
               target="≥ 2,000 rows/s", passed=rate >= 2000 and created == args.rows,
               rows=args.rows, created=created, seconds=round(seconds, 1),
               openpyxl_read_rows_s=round(args.rows / read_s))
        pids = customer_api_pids(system)
        figures = export(system.base_url, token, args.format, pids)
        show("export", figures)
        result("export time to first byte", figures["first_byte_s"], "s",
               target="≤ 1 s", passed=figures["first_byte_s"] <= 1.0,
               total_s=round(figures["total_s"], 1), bytes=figures["bytes"])
        result("export peak RSS of the customer API", figures["rss_peak_mb"], "MB",
               anchor="its RSS before the export", anchor_value=figures["rss_before_mb"],
               target="flat (report)", total_s=round(figures["total_s"], 1),
               bytes=figures["bytes"])
    finally:
        system.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
