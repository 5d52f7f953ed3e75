"""The `crm` command line."""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from crmkit.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm", description="Event-driven sales CRM")
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run the whole system")
    up.add_argument("--port", type=int, default=int(os.environ.get("CRM_PORT", 8080)))
    up.add_argument("--demo", action="store_true", help="load a sample organisation")

    serve = commands.add_parser("serve", help="run one service's API under gunicorn")
    serve.add_argument("service")
    serve.add_argument("--bind", default="127.0.0.1:8000")
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--threads", type=int, default=8)
    serve.add_argument("--with-workers", action="store_true",
                       help="also run its consumers, relay and scheduler in the API process")
    serve.add_argument("--quiet", action="store_true", help="no access log")

    worker = commands.add_parser("worker", help="run one service's consumers/relay/scheduler")
    worker.add_argument("service")

    commands.add_parser("topology", help="print the RabbitMQ definitions JSON")

    backup = commands.add_parser("backup", help="save every service's data to a folder")
    backup.add_argument("--out", help="the folder to write (default: ./crm-backup-<time>)")
    restore = commands.add_parser("restore", help="bring back a backup into empty databases")
    restore.add_argument("folder")

    commands.add_parser("ferretdb", help="build (once) the local FerretDB and print its path")

    reporting = commands.add_parser("reporting", help="reporting maintenance")
    reporting.add_argument("action", choices=["rebuild"])

    args = parser.parse_args(argv)
    return {"up": cmd_up, "serve": cmd_serve, "worker": cmd_worker,
            "topology": cmd_topology, "reporting": cmd_reporting, "backup": cmd_backup,
            "restore": cmd_restore, "ferretdb": cmd_ferretdb}[args.command](args)


def cmd_up(args) -> int:
    from crmkit.logs import configure_logging

    configure_logging("crm")
    from crm.console_build import ensure_console_built

    ensure_console_built()
    if args.demo and not os.environ.get("CRM_ADMIN_PASSWORD"):
        import secrets

        os.environ["CRM_ADMIN_PASSWORD"] = secrets.token_urlsafe(12)
        print(f"crm: demo admin: {os.environ.get('CRM_ADMIN_USERNAME', 'admin')} / "
              f"{os.environ['CRM_ADMIN_PASSWORD']}", flush=True)
    from crm.database import open_database

    with open_database() as database:
        if os.environ.get("AMQP_URL"):
            from crm.supervisor import run_distributed

            return run_distributed(args.port, demo=args.demo, database=database)
        os.environ["MONGO_URL"] = database.url
        return _run_embedded(args.port, args.demo)


def _run_embedded(port: int, demo: bool) -> int:
    from crm.serving import serve
    from crm.system import embedded_app

    settings = Settings.from_env()
    print("crm: embedded mode: one process and an in-memory bus (set AMQP_URL for "
          "RabbitMQ and separate processes); the data is kept in the database.", flush=True)

    def factory():
        app = embedded_app(settings)
        _announce_when_healthy(app, port, demo, settings)
        return app

    serve(factory, bind=f"127.0.0.1:{port}", workers=1, threads=16, quiet=True,
          name="crm-embedded")
    return 0


def _announce_when_healthy(app, port: int, demo: bool, settings: Settings) -> None:
    def wait_and_announce():
        import time
        import urllib.request

        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        print(f"CRM is ready at http://127.0.0.1:{port}  (embedded)", flush=True)
        if demo:
            from crm.demo import load_demo

            load_demo(f"http://127.0.0.1:{port}", settings)

    threading.Thread(target=wait_and_announce, daemon=True).start()


def cmd_serve(args) -> int:
    from crm.serving import serve
    from crm.system import app_module
    from crmkit.logs import configure_logging

    configure_logging(args.service)
    module = app_module(args.service)
    if args.with_workers and args.workers != 1:
        raise SystemExit("--with-workers needs --workers 1 (one process owns the workers)")
    serve(lambda: module.create_app(with_workers=args.with_workers), bind=args.bind,
          workers=args.workers, threads=args.threads, quiet=args.quiet,
          name=f"crm-{args.service}")
    return 0


def cmd_worker(args) -> int:
    from crm.system import app_module
    from crmkit.logs import configure_logging
    from crmkit.start_up import freeze_start_up

    configure_logging(f"{args.service}-worker")
    worker = app_module(args.service).create_worker()
    freeze_start_up()
    worker.declare_topology()
    worker.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    worker.stop()
    return 0


def cmd_topology(args) -> int:
    from crm.system import subscriptions
    from crmkit.bus.topology import definitions

    print(json.dumps(definitions(subscriptions(), queue_type="quorum"), indent=2))
    return 0


def cmd_reporting(args) -> int:
    from crm.database import open_database
    from services.reporting.app import rebuild

    with open_database(share_running=True) as database:
        result = rebuild(Settings.from_env().with_(mongo_url=database.url))
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_backup(args) -> int:
    from crm.backup import backup
    from crm.database import open_database

    with open_database(share_running=True) as database:
        folder = backup(Settings.from_env().with_(mongo_url=database.url), args.out)
    print(f"crm: backup written to {folder}", flush=True)
    return 0


def cmd_restore(args) -> int:
    from crm.backup import restore
    from crm.database import open_database

    with open_database() as database:
        counts = restore(Settings.from_env().with_(mongo_url=database.url), args.folder)
    print(json.dumps(counts, ensure_ascii=False), flush=True)
    return 0


def cmd_ferretdb(args) -> int:
    from crm.ferretdb import FerretDBUnavailable, ensure_binary

    try:
        print(ensure_binary(lambda text, **_: print(text, file=sys.stderr, flush=True)))
    except FerretDBUnavailable as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
