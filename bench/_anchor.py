"""The anchor for bench/gateway.py: a bare Flask app returning a small JSON document,
served exactly like a service API under `crm up` (crm.serving.serve: gunicorn gthread,
the same worker count, 8 threads, keep-alive, no access log).

    .venv/bin/python bench/_anchor.py --bind 127.0.0.1:PORT --workers N [--threads 8]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm.serving import serve  # noqa: E402

DOCUMENT = {"id": "0f3c6d2a9b8e4c1d", "number": "CRM000001", "name": "基准测试科技",
            "industry": "IT", "status": "potential", "owner_id": "5b2d", "version": 1,
            "primary_contact": {"name": "王五", "phone": "13712345678"}}


def create_app():
    from flask import Flask, jsonify

    app = Flask("anchor")

    @app.get("/api/v1/customers/<customer_id>")
    def customer(customer_id):
        return jsonify({**DOCUMENT, "id": customer_id})

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)   # `crm serve`'s default
    args = parser.parse_args()
    serve(create_app, bind=args.bind, workers=args.workers, threads=args.threads, quiet=True,
          name="crm-bench-anchor")


if __name__ == "__main__":
    main()
