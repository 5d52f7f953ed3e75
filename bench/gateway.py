"""Authenticated GET through the gateway vs the same request straight to the service.

    .venv/bin/python bench/gateway.py [--seconds 10] [--threads 8]

Starts `crm up` on the local RabbitMQ (gateway and services as separate processes),
creates one customer, then loads GET /api/v1/customers/{id}: first through the gateway
(user token → user lookup → internal token → forward), then directly at the customer
service with an internal token minted like the gateway does. Same client, same run.
"""
from __future__ import annotations

import argparse

import urllib3

from _harness import System, run_load, show

from crmkit.auth import TokenService
from crmkit.identity import Identity


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()
    system = System()
    try:
        rep = system.org.user("rep")
        created = rep.post("/api/v1/customers", json={
            "name": "基准测试科技", "industry": "IT", "status": "potential",
            "primary_contact": {"name": "王五", "phone": "13712345678"}})
        assert created.status_code == 201, created
        path = f"/api/v1/customers/{created.json['id']}"
        me = rep.user
        internal = TokenService(system.secret).issue_internal(Identity(
            me["id"], me["username"], me["name"], me["role"], me["team"], me["region"],
            me.get("timezone", "Asia/Shanghai")))
        pool = urllib3.PoolManager(maxsize=args.threads * 2)

        def getter(url, token):
            headers = {"Authorization": f"Bearer {token}"}
            return lambda: pool.request("GET", url, headers=headers).status == 200

        via_gateway = getter(system.base_url + path, rep.token)
        direct = getter(system.service_url("customer") + path, internal)
        assert via_gateway() and direct(), "warm-up request failed"
        run_load(via_gateway, threads=args.threads, seconds=2)  # warm up both paths
        run_load(direct, threads=args.threads, seconds=2)
        print(f"GET {path}  threads={args.threads} seconds={args.seconds}")
        show("through the gateway", run_load(via_gateway, threads=args.threads,
                                             seconds=args.seconds))
        show("straight to the customer service", run_load(direct, threads=args.threads,
                                                          seconds=args.seconds))
    finally:
        system.stop()


if __name__ == "__main__":
    main()
