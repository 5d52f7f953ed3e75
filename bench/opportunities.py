"""Benchmark of the opportunity service, through the gateway of a running system.

  1. stage changes/s: each worker thread moves its own opportunity round the pipeline
     (POST /opportunities/{id}/stage with a note), request latency p50/p99;
  2. win → deal: the time from a win being answered (POST /opportunities/{id}/win)
     until the customer shows `status: deal` (GET /customers/{id}) — the path
     opportunity.won → outbox relay → RabbitMQ → customer service — p50/p99.

By default it starts `crm up` with bench/_harness.py (separate processes, the real local
RabbitMQ in a private virtual host, its own FerretDB on a fresh temporary data folder).
With --url it drives a running system instead (CRM_ADMIN_PASSWORD must be the admin's
password).

    .venv/bin/python bench/opportunities.py [--url http://127.0.0.1:8080] [--threads 4]
        [--seconds 10] [--wins 30]
"""
from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import ADMIN_PASSWORD, System, percentile, run_load, show  # noqa: E402

from crm.client import Org, http_transport  # noqa: E402

OPPS = "/api/v1/opportunities"
CYCLE = ["needs_analysis", "proposal", "negotiation", "contract", "lead"]


def new_customer(rep, n: int) -> dict:
    reply = rep.post("/api/v1/customers", json={
        "name": f"压测客户{n}号{uuid.uuid4().hex[:8]}有限公司", "industry": "制造业",
        "status": "intent", "primary_contact": {"name": "王经理", "phone": "13812345678"}})
    if reply.status_code != 201:
        raise SystemExit(f"creating a customer failed: {reply!r}")
    return reply.json


def open_opportunity(rep, customer_id: str, timeout: float = 15.0) -> dict:
    """Opens as soon as the customer's event has reached the opportunity service."""
    body = {"name": "压测商机", "customer_id": customer_id, "amount": "1000.00",
            "expected_close_date": "2027-06-30"}
    deadline = time.monotonic() + timeout
    while True:
        reply = rep.post(OPPS, json=body)
        if reply.status_code == 201:
            return reply.json
        if time.monotonic() > deadline:
            raise SystemExit(f"opening an opportunity failed: {reply!r}")
        time.sleep(0.02)


def stage_changes(org: Org, threads: int, seconds: float) -> dict:
    """Each thread takes its own rep and opportunity (no version races between them)."""
    work: queue.Queue = queue.Queue()
    for i in range(threads):
        rep = org.user("rep", f"east/bench/team-{i % 2}")
        work.put((rep, open_opportunity(rep, new_customer(rep, i)["id"]), [0]))
    mine = threading.local()

    def change() -> bool:
        if not hasattr(mine, "slot"):
            mine.slot = work.get_nowait()
        rep, opp, step = mine.slot
        stage = CYCLE[step[0] % len(CYCLE)]
        step[0] += 1
        reply = rep.post(f"{OPPS}/{opp['id']}/stage",
                         json={"stage": stage, "note": f"压测推进 {step[0]}"})
        return reply.status_code == 200

    return run_load(change, threads=threads, seconds=seconds)


def win_to_deal(org: Org, wins: int, timeout: float = 10.0) -> dict:
    rep = org.user("rep", "east/bench/team-win")
    times, missing = [], 0
    for n in range(wins):
        customer = new_customer(rep, 10_000 + n)
        opp = open_opportunity(rep, customer["id"])
        reply = rep.post(f"{OPPS}/{opp['id']}/win", json={
            "amount": "1000.00", "contract_number": f"B-{n}", "signed_on": "2026-11-20"})
        if reply.status_code != 200:
            raise SystemExit(f"win failed: {reply!r}")
        started = time.perf_counter()
        while (rep.get(f"/api/v1/customers/{customer['id']}").json or {}).get(
                "status") != "deal":
            if time.perf_counter() - started > timeout:
                missing += 1
                break
            time.sleep(0.005)
        else:
            times.append((time.perf_counter() - started) * 1000)
    return {"wins": wins, "reached_deal": len(times), "timed_out": missing,
            "p50_ms": percentile(times, 0.50), "p99_ms": percentile(times, 0.99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running system (default: start `crm up`)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--wins", type=int, default=30)
    args = parser.parse_args()

    system = None
    if args.url:
        org = Org(http_transport(args.url.rstrip("/")), "admin",
                  os.environ.get("CRM_ADMIN_PASSWORD", ADMIN_PASSWORD))
    else:
        system = System()
        org = system.org
    try:
        show(f"stage changes ({args.threads} threads)",
             stage_changes(org, args.threads, args.seconds))
        time.sleep(1.0)  # let the stage changes' events drain before timing wins
        show("win → customer deal", win_to_deal(org, args.wins))
    finally:
        if system is not None:
            system.stop()


if __name__ == "__main__":
    main()
