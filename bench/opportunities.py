"""Benchmark of the opportunity service, through the gateway.

  1. stage changes per second (each worker moves its own opportunity round the
     pipeline with a note), with request latency p50/p99;
  2. the time from a win (POST /opportunities/{id}/win answered) until the customer
     shows `status: deal` (GET /customers/{id}) — the event path opportunity.won →
     RabbitMQ → customer service — p50/p99.

By default it starts the whole system in this process on the real local RabbitMQ
(mongomock, like the integration tests). With --url it drives a running `crm up`
instead (CRM_ADMIN_PASSWORD must be the admin's password).

    .venv/bin/python bench/opportunities.py [--url http://127.0.0.1:8080]
        [--workers 4] [--seconds 10] [--wins 30]
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm.client import Org, http_transport  # noqa: E402

AMQP_URL = os.environ.get("CRM_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
ADMIN_PASSWORD = os.environ.get("CRM_ADMIN_PASSWORD", "Admin#Pass-2026")
OPPS = "/api/v1/opportunities"
CYCLE = ["needs_analysis", "proposal", "negotiation", "contract", "lead"]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def flask_transport(client):
    from crm.client import Response

    def send(method, path, json_body, headers, data, content_type):
        kwargs = {"headers": headers}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
            if content_type:
                kwargs["content_type"] = content_type
        reply = client.open(path, method=method, **kwargs)
        return Response(reply.status_code, reply.headers, reply.get_data())
    return send


def start_embedded():
    from crmkit.config import Settings
    from crm.system import EmbeddedSystem

    settings = Settings(amqp_url=AMQP_URL, mongo_url="mongomock://",
                        db_prefix=f"bench{uuid.uuid4().hex[:8]}_",
                        admin_password=ADMIN_PASSWORD, relay_interval=0.05, embedded=False,
                        jwt_secret="bench-secret-" + "x" * 40)
    system = EmbeddedSystem(settings)
    client = system.gateway.test_client()
    deadline = time.monotonic() + 30
    while client.get("/healthz").status_code != 200:
        if time.monotonic() > deadline:
            raise SystemExit("the system did not become healthy")
        time.sleep(0.1)
    return system, flask_transport(client)


def new_customer(rep, n: int) -> dict:
    reply = rep.post("/api/v1/customers", json={
        "name": f"压测客户{n}号{uuid.uuid4().hex[:8]}有限公司", "industry": "制造业",
        "status": "intent", "primary_contact": {"name": "王经理", "phone": "13812345678"}})
    if reply.status_code != 201:
        raise SystemExit(f"creating a customer failed: {reply!r}")
    return reply.json


def open_opportunity(rep, customer_id: str, timeout: float = 15.0) -> dict:
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


def bench_stage_changes(reps, opps, seconds: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def work(rep, opp):
        mine, failed, step = [], 0, 0
        url = f"{OPPS}/{opp['id']}/stage"
        while time.monotonic() < stop_at:
            stage = CYCLE[step % len(CYCLE)]
            started = time.perf_counter()
            reply = rep.post(url, json={"stage": stage, "note": f"压测推进 {step}"})
            mine.append(time.perf_counter() - started)
            if reply.status_code != 200:
                failed += 1
            step += 1
        with lock:
            latencies.extend(mine)
            errors[0] += failed

    threads = [threading.Thread(target=work, args=(r, o)) for r, o in zip(reps, opps)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    return {"requests": len(latencies), "errors": errors[0], "seconds": round(elapsed, 2),
            "per_second": round(len(latencies) / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1)}


def bench_win_to_deal(rep, wins: int, timeout: float = 10.0) -> dict:
    times, missing = [], 0
    for n in range(wins):
        customer = new_customer(rep, 10_000 + n)
        opp = open_opportunity(rep, customer["id"])
        reply = rep.post(f"{OPPS}/{opp['id']}/win", json={
            "amount": "1000.00", "contract_number": f"B-{n}", "signed_on": "2026-11-20"})
        if reply.status_code != 200:
            raise SystemExit(f"win failed: {reply!r}")
        started = time.perf_counter()
        deadline = started + timeout
        while True:
            body = rep.get(f"/api/v1/customers/{customer['id']}").json or {}
            if body.get("status") == "deal":
                times.append(time.perf_counter() - started)
                break
            if time.perf_counter() > deadline:
                missing += 1
                break
            time.sleep(0.005)
    return {"wins": wins, "reached_deal": len(times), "timed_out": missing,
            "p50_ms": round(percentile(times, 50) * 1000, 1) if times else None,
            "p99_ms": round(percentile(times, 99) * 1000, 1) if times else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running `crm up` (default: start one in-process)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--wins", type=int, default=30)
    args = parser.parse_args()

    system = None
    if args.url:
        transport = http_transport(args.url.rstrip("/"))
        where = args.url
    else:
        system, transport = start_embedded()
        where = f"in-process system on {AMQP_URL} (mongomock)"
    try:
        org = Org(transport, os.environ.get("CRM_ADMIN_USERNAME", "admin"), ADMIN_PASSWORD)
        reps = [org.user("rep", f"east/bench/team-{i % 2}") for i in range(args.workers)]
        opps = [open_opportunity(rep, new_customer(rep, i)["id"])
                for i, rep in enumerate(reps)]
        print(f"opportunity bench against {where}", flush=True)
        stage = bench_stage_changes(reps, opps, args.seconds)
        print(f"stage changes: {stage['per_second']}/s over {stage['seconds']}s with "
              f"{args.workers} workers ({stage['requests']} requests, {stage['errors']} "
              f"errors), latency p50 {stage['p50_ms']} ms, p99 {stage['p99_ms']} ms",
              flush=True)
        win = bench_win_to_deal(reps[0], args.wins)
        if win["reached_deal"]:
            print(f"win → customer deal: p50 {win['p50_ms']} ms, p99 {win['p99_ms']} ms "
                  f"({win['reached_deal']}/{win['wins']} reached, {win['timed_out']} timed "
                  f"out)", flush=True)
        else:
            print(f"win → customer deal: no customer became a deal within the timeout "
                  f"({win['wins']} wins); does the customer service consume "
                  f"opportunity.won yet?", flush=True)
    finally:
        if system is not None:
            system.stop()


if __name__ == "__main__":
    main()
