"""Benchmark of the customer pool, through the gateway of a running system.

  1. creates/s: POST /customers from several reps at once, latency p50/p99;
  2. claims/s: reps claiming distinct pool customers (POST /customers/{id}/claim), the
     pool filled first by an import of --pool rows;
  3. list search: GET /customers?q=... (name, pinyin initials, phone) p50/p99;
  4. import: one --import-rows xlsx (POST /customers/import) → rows/s.

By default it starts `crm up` with bench/_harness.py (separate processes, the real local
RabbitMQ in a private virtual host, its own FerretDB on a fresh temporary data folder).
With --url it drives a running system instead (CRM_ADMIN_PASSWORD must be the admin's
password).

    .venv/bin/python bench/customers.py [--url http://127.0.0.1:8080] [--threads 8]
        [--seconds 10] [--pool 1000] [--import-rows 10000]

On the local FerretDB every conditional write and every search scans the collection, so
the defaults take many minutes there; `--pool 40 --import-rows 100` runs in ~3 minutes
on two busy cores. A request the client gives up on (30 s) counts as an error.
"""
from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import random
import sys
import time
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ADMIN_PASSWORD, System, result, run_load, show  # noqa: E402

from crm.client import Org, Session, http_transport  # noqa: E402

API = "/api/v1/customers"
TEAMS = ["east/shanghai/team-1", "east/shanghai/team-2", "east/hangzhou/team-1",
         "north/beijing/team-1"]
WORDS = ["商策", "华信", "云帆", "浦江", "申远", "绿源", "西溪", "钱塘", "京北", "海港",
         "金桥", "东方", "恒达", "中联", "天成", "瑞丰"]
TRADES = ["科技", "贸易", "物流", "机械", "食品", "教育", "医疗", "能源"]


def company(n: int) -> str:
    return f"{random.choice(['上海', '北京', '杭州', ''])}{random.choice(WORDS)}" \
           f"{random.choice(TRADES)}{uuid.uuid4().hex[:6]}{n}有限公司"


def body(n: int, **extra) -> dict:
    return {"name": company(n), "industry": random.choice(TRADES), "status": "potential",
            "level": random.choice("ABCD"), "tags": [random.choice(["重点", "华东", "新客"])],
            "primary_contact": {"name": f"联系人{n}", "phone": f"139{n % 10**8:08d}"},
            **extra}


def xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("customers")
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def import_sheet(base_url: str, token: str, content: bytes, filename: str,
                 in_pool: bool, *, timeout: float = 600,
                 respond_async: bool = False) -> tuple[int, dict, float]:
    """POST /customers/import with a long timeout (a big file takes a while); with
    `respond_async`, as the console sends it: 202 and the run's status."""
    boundary = f"----bench{uuid.uuid4().hex}"
    payload = (f'--{boundary}\r\nContent-Disposition: form-data; name="in_pool"\r\n\r\n'
               f'{"true" if in_pool else "false"}\r\n--{boundary}\r\nContent-Disposition: '
               f'form-data; name="file"; filename="{filename}"\r\nContent-Type: '
               f'application/octet-stream\r\n\r\n').encode() + content + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        base_url + f"{API}/import", data=payload, method="POST",
        headers={"Authorization": f"Bearer {token}",
                 "Content-Type": f"multipart/form-data; boundary={boundary}",
                 **({"Prefer": "respond-async"} if respond_async else {})})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            status, result = reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        status, result = error.code, json.loads(error.read() or b"{}")
    return status, result, time.perf_counter() - started


def pool_customers(base_url: str, admin: Session, count: int) -> list[str]:
    rows = [["客户名称", "行业", "状态", "联系人", "联系电话"]]
    rows += [[company(n), "贸易", "潜在客户", f"池{n}", f"137{n:08d}"] for n in range(count)]
    status, result, _ = import_sheet(base_url, admin.token, xlsx(rows), "pool.xlsx", True)
    if status != 200:
        raise SystemExit(f"could not fill the pool: {status} {result}")
    return list(result["numbers"])


def claim_all(pool: list[str], reps: list[Session]) -> dict:
    """Each rep thread claims distinct pool customers until the pool is empty."""
    import threading

    from _harness import percentile

    lock = threading.Lock()
    latencies: list[float] = []
    failures = [0]

    def work(rep: Session) -> None:
        while True:
            with lock:
                if not pool:
                    return
                customer_id = pool.pop()
            started = time.perf_counter()
            try:
                ok = rep.post(f"{API}/{customer_id}/claim").status_code == 200
            except Exception:  # noqa: BLE001 - a client timeout counts as a failure
                ok = False
            with lock:
                latencies.append((time.perf_counter() - started) * 1000)
                failures[0] += 0 if ok else 1

    threads = [threading.Thread(target=work, args=(rep,)) for rep in reps]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return {"requests": len(latencies), "errors": failures[0],
            "rps": len(latencies) / elapsed, "p50_ms": percentile(latencies, 0.50),
            "p99_ms": percentile(latencies, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running system (default: start crm up)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--pool", type=int, default=1000, help="pool customers to claim")
    parser.add_argument("--import-rows", type=int, default=10_000)
    args = parser.parse_args()

    system = None
    if args.url:
        base_url = args.url.rstrip("/")
        org = Org(http_transport(base_url), os.environ.get("CRM_ADMIN_USERNAME", "admin"),
                  os.environ.get("CRM_ADMIN_PASSWORD", ADMIN_PASSWORD))
    else:
        system = System()
        base_url, org = system.base_url, system.org
    try:
        from concurrent.futures import ThreadPoolExecutor

        def rep(i: int) -> Session:
            team = TEAMS[i % len(TEAMS)]
            return org.user("rep", team, "north" if team.startswith("north") else "east")

        with ThreadPoolExecutor(args.threads) as users:   # in parallel: hashing is slow
            reps = list(users.map(rep, range(args.threads)))
        supervisor = org.user("supervisor", "east")
        print(f"customer pool benchmark: {args.threads} threads, {args.seconds:.0f} s per "
              f"figure, {base_url}", flush=True)

        counter = itertools.count(1)
        sessions = itertools.cycle(reps)
        # the anchor of every figure below: the cheapest authenticated request, same load
        anchor = run_load(lambda: next(sessions).get("/api/v1/me").status_code == 200,
                          threads=args.threads, seconds=args.seconds)
        show("anchor (GET /api/v1/me)", anchor)

        def report(name: str, figures: dict) -> None:
            show(name, figures)
            result(f"{name}, req/s", figures["rps"], "req/s", anchor_value=anchor["rps"],
                   anchor="GET /api/v1/me req/s, same threads", errors=figures["errors"])
            result(f"{name}, p99", figures["p99_ms"], "ms", anchor_value=anchor["p99_ms"],
                   anchor="GET /api/v1/me p99, same threads")

        def create() -> bool:
            return next(sessions).post(API, json=body(next(counter))).status_code == 201

        report("creates (POST /customers)", run_load(create, threads=args.threads,
                                                     seconds=args.seconds))

        began = time.perf_counter()
        pool = pool_customers(base_url, org.admin, args.pool)
        print(f"(pool of {len(pool)} filled by an import in {time.perf_counter() - began:.1f} s)",
              flush=True)
        random.shuffle(pool)
        report("claims (POST .../claim)", claim_all(pool, reps))

        queries = ["sckj", "商策", "科技", "贸易", "139000", "hx", "联系人1", "shang", "CRM2"]
        viewers = itertools.cycle([supervisor, org.admin])

        def search() -> bool:
            q = urllib.request.quote(random.choice(queries))
            return next(viewers).get(f"{API}?q={q}&per_page=20").status_code == 200

        report("list search (GET /customers?q=)", run_load(search, threads=args.threads,
                                                           seconds=args.seconds))

        rows = [["客户名称", "行业", "状态", "等级", "标签", "联系人", "联系电话"]]
        rows += [[company(n), random.choice(TRADES), "意向客户", random.choice("ABCD"),
                  "导入、华东", f"导入{n}", f"136{n:08d}"] for n in range(args.import_rows)]
        content = xlsx(rows)
        status, answer, elapsed = import_sheet(base_url, reps[0].token, content,
                                               "import.xlsx", False)
        if status != 200:
            print(f"import failed: {status} {str(answer)[:300]}", flush=True)
        else:
            show(f"import ({args.import_rows:,}-row xlsx)", {
                "rows_per_s": args.import_rows / elapsed, "seconds": elapsed,
                "created": answer["created"], "errors": len(answer["errors"]),
                "duplicates": len(answer["duplicates"])})
            result(f"import of a {args.import_rows:,}-row xlsx", args.import_rows / elapsed,
                   "rows/s", target=">= 2,000 rows/s (bench/import_export.py: its anchor)",
                   passed=args.import_rows / elapsed >= 2000)
    finally:
        if system is not None:
            system.stop()


if __name__ == "__main__":
    main()
