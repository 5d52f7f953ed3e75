"""Benchmark of the reporting service: projector throughput and report latency.

    .venv/bin/python bench/reporting.py [--events 200000] [--store ferretdb|memory]
                                        [--queries 300] [--mongo-url mongodb://...]
                                        [--teams-per-region 4 --reps-per-team 15]
                                        [--every-report] [--per-person-too]
                                        [--bulk-load] [--batch N]
    .venv/bin/python bench/reporting.py --gateway [--data DIR | --events N] [--queries 100]

--gateway times every report as an admin through the gateway of `crm up` (bench/_harness.
System) and reports each with `result(...)` against the cheapest authenticated GET
(`/api/v1/me`) in the same run. With --data DIR the system runs on that loaded data folder
(bench/dataset.py's: the full data set and its reporting read models); without it the
benchmark publishes a generated history of --events events to the system's broker and
waits until the reporting consumer has kept them all.

--store ferretdb (the default) keeps the read models in a database server: --mongo-url or
MONGO_URL when given, else a FerretDB 1.24 (the server `crm up` runs) that the benchmark
starts on a temporary folder (bench/_database.py) and stops afterwards. --store memory
uses the reporting service's in-memory store and computes the reports without HTTP.

1. Generates a realistic history (users in 3 regions / 12 teams, customers claimed and
   reassigned, opportunities moving through stages, won and lost, follow-ups, tasks)
   spread over two years, with ~2% redelivered duplicates and some events out of order.
2. Feeds every event through the reporting consumer's handler (keep the event, then
   project it), in the consumer's batches (--batch 1: one at a time), and reports the
   events/s the projector sustains.
3. Queries the funnel and performance reports (through the reporting service's HTTP API,
   Flask test client, so parsing and JSON are included) as an admin, a manager, a
   supervisor and a rep, and prints p50 / p99 latency.
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from crmkit.auth import TokenService  # noqa: E402
from crmkit.clock import isoformat  # noqa: E402
from crmkit.identity import Identity  # noqa: E402
from services.reporting.consumers import BATCH_SIZE  # noqa: E402

STAGES = ["lead", "needs_analysis", "proposal", "negotiation", "contract"]
PROBABILITY = {"lead": 10, "needs_analysis": 25, "proposal": 50, "negotiation": 75,
               "contract": 90, "won": 100, "lost": 0}
METHODS = ["call", "visit", "email", "meeting", "wechat", "other"]
REASONS = ["价格过高", "选择竞品", "预算取消", "需求变更", "决策延期"]


def customer_snapshot(cid: str, name: str, owner: dict | None, region: str, at) -> dict:
    """A customer as the customer service's events carry it (events.customer)."""
    return {"customer_id": cid, "id": cid, "number": "CRM000001", "name": name,
            "industry": "制造业", "status": "potential", "level": None, "source": None,
            "tags": [], "region": region, "owner_id": owner and owner["id"],
            "owner_team": owner and owner["team"], "owner_region": owner and owner["region"],
            "owner_name": None, "shared_with": [], "deal_amount": "0.00", "currency": "CNY",
            "last_deal_on": None, "last_followup_at": None,
            "created_by": owner["id"] if owner else "admin", "created_at": isoformat(at),
            "version": 1}


class History:
    """Generates envelopes shaped like the producers' (snapshots with versions)."""

    def __init__(self, seed: int = 7, teams_per_region: int = 4, reps_per_team: int = 15):
        self.rnd = random.Random(seed)
        self.teams_per_region = teams_per_region
        self.reps_per_team = reps_per_team
        self.start = datetime(2025, 1, 1, tzinfo=timezone.utc)
        self.users: list[dict] = []
        self.events: list[dict] = []

    def envelope(self, type_, aggregate_id, data, at, region="east", actor=None):
        self.events.append({
            "id": uuid.uuid4().hex, "type": type_, "version": 1, "occurred_at": isoformat(at),
            "producer": type_.split(".")[0], "aggregate_id": aggregate_id, "actor_id": actor,
            "correlation_id": "bench", "region": region, "data": data})

    def build(self, target: int) -> list[dict]:
        rnd = self.rnd
        regions = {"east": ["east/shanghai/t1", "east/shanghai/t2", "east/hangzhou/t1",
                            "east/nanjing/t1"],
                   "north": ["north/beijing/t1", "north/beijing/t2", "north/tianjin/t1",
                             "north/jinan/t1"],
                   "south": ["south/guangzhou/t1", "south/shenzhen/t1", "south/shenzhen/t2",
                             "south/xiamen/t1"]}
        if self.teams_per_region != 4:  # an organisation of another size, same shape
            regions = {region: [f"{region}/c{i // 4}/t{i % 4}"
                                for i in range(self.teams_per_region)]
                       for region in regions}
        for region, teams in regions.items():
            for team in teams:
                for role, count in (("supervisor", 1), ("rep", self.reps_per_team)):
                    for _ in range(count):
                        self._user(role, team, region)
            self._user("manager", region, region)
        self._user("admin", "hq", "hq")
        reps = [u for u in self.users if u["role"] == "rep"]
        customers: list[tuple[str, dict | None]] = []
        span = 700 * 24 * 3600
        while len(self.events) < target:
            at = self.start + timedelta(seconds=rnd.randrange(span))
            roll = rnd.random()
            if roll < 0.12 or not customers:
                owner = rnd.choice(reps) if rnd.random() < 0.85 else None
                cid = uuid.uuid4().hex
                region = owner["region"] if owner else rnd.choice(list(regions))
                snap = customer_snapshot(cid, f"客户{len(customers)}", owner, region, at)
                self.envelope("customer.created", cid, {**snap, "in_pool": owner is None},
                              at, region)
                customers.append((cid, owner))
                if owner is None and rnd.random() < 0.5:
                    claimer = rnd.choice(reps)
                    self.envelope("customer.claimed", cid, {
                        **snap, "owner_id": claimer["id"], "owner_team": claimer["team"],
                        "owner_region": claimer["region"], "version": 2,
                        "previous_owner_id": None}, at + timedelta(days=1), region,
                        claimer["id"])
            elif roll < 0.45:
                self._opportunity(rnd.choice(customers), at, reps)
            elif roll < 0.85:
                cid, owner = rnd.choice(customers)
                author = owner or rnd.choice(reps)
                self.envelope("interaction.logged", cid, {
                    "interaction_id": uuid.uuid4().hex, "customer_id": cid,
                    "owner_id": owner and owner["id"], "owner_team": owner and owner["team"],
                    "owner_region": owner and owner["region"], "occurred_at": isoformat(at),
                    "method": rnd.choice(METHODS), "subject": "跟进", "contact_ids": [],
                    "created_by": author["id"]}, at, author["region"], author["id"])
            else:
                tid, assignee = uuid.uuid4().hex, rnd.choice(reps)
                base = {"task_id": tid, "type": "call", "title": "回访", "status": "todo",
                        "priority": "medium", "assignee_id": assignee["id"],
                        "assignee_team": assignee["team"],
                        "assignee_region": assignee["region"], "created_by": assignee["id"],
                        "region": assignee["region"], "customer_ids": [],
                        "due_at": isoformat(at + timedelta(days=3)), "version": 1}
                self.envelope("task.created", tid, base, at, actor=assignee["id"])
                if rnd.random() < 0.6:
                    done = at + timedelta(days=rnd.randint(0, 10))
                    self.envelope("task.completed", tid, {
                        **base, "status": "done", "completed_at": isoformat(done),
                        "version": 2, "result": "完成", "counts_as_followup": False},
                        done, actor=assignee["id"])
        events = self.events[:target]
        # the bus's real behaviour: some events twice, some a little out of order
        for event in rnd.sample(events, len(events) // 50):
            events.insert(rnd.randrange(len(events)), event)
        for _ in range(len(events) // 100):
            i = rnd.randrange(len(events) - 3)
            events[i], events[i + 2] = events[i + 2], events[i]
        return events

    def _user(self, role, team, region):
        uid = uuid.uuid4().hex
        user = {"id": uid, "role": role, "team": team, "region": region}
        self.users.append(user)
        self.envelope("user.created", uid, {
            "id": uid, "username": f"{role}{len(self.users)}", "name": f"{role}{len(self.users)}",
            "role": role, "team": team, "region": region, "timezone": "Asia/Shanghai",
            "active": True, "version": 0}, self.start, region)

    def _opportunity(self, customer, at, reps):
        rnd = self.rnd
        cid, owner = customer
        owner = owner or rnd.choice(reps)
        oid = uuid.uuid4().hex
        amount = f"{rnd.randint(1000, 500000)}.{rnd.randint(0, 99):02d}"
        close = (at + timedelta(days=rnd.randint(10, 120))).date().isoformat()
        snap = {"opportunity_id": oid, "name": f"商机{oid[:6]}", "customer_id": cid,
                "owner_id": owner["id"], "owner_team": owner["team"],
                "owner_region": owner["region"], "region": owner["region"], "stage": "lead",
                "status": "open", "amount": amount, "currency": "CNY", "probability": 10,
                "expected_close_date": close, "created_at": isoformat(at),
                "stage_changed_at": isoformat(at), "closed_at": None, "won": None,
                "lost": None, "version": 1}
        self.envelope("opportunity.created", oid, {**snap, "created_by": owner["id"]}, at,
                      owner["region"], owner["id"])
        moments = sorted(at + timedelta(days=rnd.randint(1, 60)) for _ in range(4))
        index = 0
        for moment in moments[:rnd.randint(0, 3)]:
            index = min(index + rnd.randint(1, 2), len(STAGES) - 1)
            before, snap["stage"] = snap["stage"], STAGES[index]
            snap.update(probability=PROBABILITY[snap["stage"]], version=snap["version"] + 1)
            self.envelope("opportunity.stage_changed", oid, {
                **snap, "from_stage": before, "to_stage": snap["stage"], "note": "推进",
                "forward": True},
                moment, owner["region"], owner["id"])
        fate = rnd.random()
        closed = moments[-1] + timedelta(days=1)
        if fate < 0.3:
            before = snap["stage"]
            snap.update(stage="won", status="won", probability=100,
                        version=snap["version"] + 1, closed_at=isoformat(closed),
                        won={"amount": amount, "contract_number": "HT",
                             "signed_on": closed.date().isoformat()})
            self.envelope("opportunity.won", oid, {
                **snap, "from_stage": before, "won_amount": amount, "contract_number": "HT",
                "signed_on": closed.date().isoformat()}, closed, owner["region"], owner["id"])
        elif fate < 0.5:
            before, reason = snap["stage"], rnd.choice(REASONS)
            snap.update(stage="lost", status="lost", probability=0,
                        version=snap["version"] + 1, closed_at=isoformat(closed),
                        lost={"reason": reason})
            self.envelope("opportunity.lost", oid, {**snap, "from_stage": before,
                                                    "reason": reason},
                          closed, owner["region"], owner["id"])


QUERIES = {  # through the reporting service's HTTP API (parsing, visibility, JSON)
    "funnel, all time": "/api/v1/reports/funnel",
    "funnel, one month": "/api/v1/reports/funnel?from=2026-03-01&to=2026-03-31",
    "performance, this month by owner": "/api/v1/reports/performance",
    "performance, 2025 by owner and month": "/api/v1/reports/performance?group_by=owner"
                                            "&period=month&from=2025-01-01&to=2025-12-31",
    "performance, 2 years by team and quarter": "/api/v1/reports/performance?group_by=team"
                                                "&period=quarter&from=2025&to=2026",
}


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(pct / 100 * (len(ordered) - 1))))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--store", choices=["ferretdb", "memory"], default="ferretdb")
    parser.add_argument("--mongo-url", default=None,
                        help="a MongoDB server to use (default: MONGO_URL, else a FerretDB "
                             "started on a temporary folder)")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--teams-per-region", type=int, default=4,
                        help="teams in each of the 3 regions (60 users each at 20 reps "
                             "per team: --teams-per-region 20 --reps-per-team 32 is the "
                             "organisation of issue 14, ~2,000 users)")
    parser.add_argument("--reps-per-team", type=int, default=15)
    parser.add_argument("--batch", type=int, default=0, metavar="N",
                        help="with the database: hand the projector N events at a time, "
                             "as the reporting consumer's batches (default: its "
                             "BATCH_SIZE; 1: one at a time, ReportingHandlers.on_event)")
    parser.add_argument("--bulk-load", action="store_true",
                        help="with the database: project in memory and insert the read "
                             "models in bulk (large data sets fast; no projector timing)")
    parser.add_argument("--per-person-too", action="store_true",
                        help="with the database: also time each report reading every "
                             "person's counters instead of the rollups, in turn with it "
                             "(same data, same moment), and check both answer the same")
    parser.add_argument("--every-report", action="store_true",
                        help="in process: time every report (GATEWAY_REPORTS) as the "
                             "admin, instead of QUERIES as each role")
    parser.add_argument("--bus", type=int, default=0, metavar="N",
                        help="only: drain N events from the real RabbitMQ through the "
                             "reporting consumer (2 threads, as deployed)")
    parser.add_argument("--gateway", action="store_true",
                        help="time every report through the gateway of `crm up`")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="with --gateway: a data folder loaded by bench/dataset.py")
    args = parser.parse_args()
    if args.gateway:
        return through_gateway(args)
    from _database import local_database

    if args.bus:
        with local_database(args.mongo_url) as url:
            return drain_from_bus(args.bus, url, args.batch or BATCH_SIZE)
    if args.store == "memory":
        return run(args, None)
    with local_database(args.mongo_url) as url:
        return run(args, url)


def bulk_load(events: list[dict], repository) -> None:
    """The read models of `events` as the projector would leave them, made in memory
    (the reference store, same projector) and inserted in bulk: a large data set in
    minutes, for timing reports (the projector's throughput is not measured then)."""
    from services.reporting.memstore import MemoryStore
    from services.reporting.projections import Projector
    from services.reporting.repository import _counter_id, escape

    memory = MemoryStore()
    projector = Projector(memory)
    started = time.perf_counter()
    for event in events:
        projector.handle(event)
    print(f"  projected {len(events):,} events in memory in "
          f"{time.perf_counter() - started:.1f} s", flush=True)
    counters = [{"_id": _counter_id(kind, segment, bucket), "kind": kind,
                 "segment": segment, "bucket": bucket,
                 "c": {escape(f): n for f, n in fields.items()}, "ops": []}
                for (kind, segment), buckets in memory.counters.items()
                for bucket, fields in buckets.items() if fields]
    states = [{k: v for k, v in state.items()} for state in memory.states.values()]
    for collection, docs in ((repository.counters, counters), (repository.states, states),
                             (repository.directory, list(memory.directory.values()))):
        for start in range(0, len(docs), 2000):
            collection.insert_many(docs[start:start + 2000], ordered=False)
    rollups = sum(1 for d in counters if d["segment"][:2] in ("t:", "r:", "o:"))
    print(f"  inserted {len(counters):,} counter documents ({rollups:,} of rollups), "
          f"{len(states):,} states in {time.perf_counter() - started:.1f} s", flush=True)


def run(args, mongo_url: str | None) -> int:
    print(f"generating {args.events:,} events ...", flush=True)
    history = History(teams_per_region=args.teams_per_region,
                      reps_per_team=args.reps_per_team)
    events = history.build(args.events)
    print(f"  {len(history.users):,} users", flush=True)

    from services.reporting import reports
    from services.reporting.handlers import ReportingHandlers
    if args.store == "memory":
        from services.reporting.memstore import MemoryStore
        from services.reporting.projections import Projector

        store = MemoryStore()
        projector = Projector(store)
        consume = projector.handle
    else:
        from crmkit.mongo import get_database
        from services.reporting.repository import ReportingRepository

        store = ReportingRepository(get_database(mongo_url,
                                                 f"bench_{uuid.uuid4().hex[:8]}"))
        store.ensure_indexes()
        handlers = ReportingHandlers(store)
        consume = handlers.on_event
    # as the reporting consumer hands them over: its batches (ReportingHandlers.on_events)
    size = 1 if args.store == "memory" else args.batch or BATCH_SIZE

    if args.bulk_load and args.store != "memory":
        bulk_load(events, store)
        events = []
    print(f"projecting into {mongo_url or args.store} ...", flush=True)
    started = time.perf_counter()
    for first in range(0, len(events), size):
        if size == 1:
            consume(events[first])
        else:
            handlers.on_events(events[first:first + size])
        number = min(first + size, len(events))
        if number // 20_000 > first // 20_000:
            rate = number / (time.perf_counter() - started)
            print(f"  {number:>8,} events  {rate:,.0f}/s", flush=True)
    elapsed = time.perf_counter() - started
    if events:
        how = "one at a time" if size == 1 else f"batches of {size}"
        print(f"projector ({how}): {len(events):,} events in {elapsed:.1f} s = "
              f"{len(events) / elapsed:,.0f} events/s")

    people = {role: next(u for u in history.users if u["role"] == role)
              for role in ("admin", "manager", "supervisor", "rep")}
    viewers = {role: Identity(u["id"], role, role, u["role"], u["team"], u["region"])
               for role, u in people.items()}

    results = {}
    if args.store == "memory":
        def direct(name, viewer):
            if name == "funnel":
                return reports.funnel(store, viewer)
            return reports.performance(store, viewer, today=datetime(2026, 11, 23).date())

        for name in ("funnel", "performance"):
            for role, viewer in viewers.items():
                timings = []
                for _ in range(args.queries):
                    t0 = time.perf_counter()
                    direct(name, viewer)
                    timings.append((time.perf_counter() - t0) * 1000)
                results[(f"{name} (computed, no HTTP)", role)] = timings
    else:
        from crmkit.config import Settings
        from crmkit.service import ServiceDefinition, ServiceRuntime, build_app
        from services.reporting import rollups
        from services.reporting.api import blueprint as reports_blueprint

        def per_person(directory, entries, group_of=None):
            """Every visible person's counters read and summed (no rollup)."""
            return dict(entries)

        settings = Settings(mongo_url=mongo_url, jwt_secret="bench-" + "x" * 40)
        runtime = ServiceRuntime("reporting-bench", settings)
        app = build_app(runtime, ServiceDefinition(
            name="reporting", title="bench", blueprints=[reports_blueprint(handlers)]))
        client = app.test_client()
        tokens = TokenService(settings.jwt_secret)
        queries = GATEWAY_REPORTS if args.every_report else QUERIES
        for label, path in queries.items():
            for role, viewer in viewers.items():
                if args.every_report and role != "admin":
                    continue
                headers = {"Authorization": f"Bearer {tokens.issue_internal(viewer)}"}
                ways = {"": rollups.plan}
                if args.per_person_too:  # the same data read without rollups, in turn
                    ways = {" per person": per_person, "": rollups.plan}
                timings = {way: [] for way in ways}
                replies = {}
                for _ in range(args.queries):
                    for way, plan in ways.items():
                        rollups.plan = plan
                        t0 = time.perf_counter()
                        reply = client.get(path, headers=headers)
                        timings[way].append((time.perf_counter() - t0) * 1000)
                        assert reply.status_code == 200, reply.get_data()[:300]
                        replies[way] = reply.get_json()
                rollups.plan = ways[""]
                assert all(r == replies[""] for r in replies.values()), label
                rows = replies[""].get("rows")
                for way in ways:
                    results[(label + way, role + (f" ({len(rows)} rows)"
                                                  if rows is not None else ""))] = timings[way]

    print(f"\nreport latency over {args.queries} queries each (ms):")
    print(f"  {'query':<44}{'viewer':<22}{'p50':>8}{'p99':>8}")
    for (label, role), timings in results.items():
        print(f"  {label:<44}{role:<22}{statistics.median(timings):>8.2f}"
              f"{percentile(timings, 99):>8.2f}")
    return 0


GATEWAY_REPORTS = {  # every report, as an admin (no filter: the whole organisation)
    "summary": "/api/v1/reports/summary",
    "funnel, all time": "/api/v1/reports/funnel",
    "funnel, one quarter": "/api/v1/reports/funnel?from=2026-01-01&to=2026-03-31",
    "performance by owner, month": "/api/v1/reports/performance?group_by=owner&period=month",
    "performance by team, quarters of 2 years":
        "/api/v1/reports/performance?group_by=team&period=quarter&from=2025&to=2026",
    "performance by region, year": "/api/v1/reports/performance?group_by=region&period=year",
    "activity by owner, month": "/api/v1/reports/activity?group_by=owner&period=month",
    "activity by region, quarter": "/api/v1/reports/activity?group_by=region&period=quarter",
    "forecast by month": "/api/v1/reports/forecast?period=month",
    "forecast by quarter": "/api/v1/reports/forecast?period=quarter",
    "forecast vs target by team, year":
        "/api/v1/reports/forecast-vs-target?group_by=team&period=year",
    "customer value ABC": "/api/v1/reports/customer-value?model=abc",
    "customer value RFM": "/api/v1/reports/customer-value?model=rfm",
    "win/loss, all time": "/api/v1/reports/win-loss",
}


def through_gateway(args) -> int:
    """Each report's latency as the admin through the gateway, against `/api/v1/me`."""
    from _harness import System, result

    system = System(data_dir=args.data)
    try:
        if not args.data:
            load_through_broker(system, args.events)
        admin = system.org.admin

        def timed(path: str) -> list[float]:
            admin.get(path)                                  # warm: caches, connections
            timings = []
            for _ in range(args.queries):
                t0 = time.perf_counter()
                reply = admin.get(path)
                timings.append((time.perf_counter() - t0) * 1000)
                assert reply.status_code == 200, (path, reply.status_code)
            return timings

        anchor = percentile(timed("/api/v1/me"), 99)
        load = f"{args.data or f'{args.events:,} generated events'}, {args.queries} queries"
        for label, path in GATEWAY_REPORTS.items():
            timings = timed(path)
            p99 = percentile(timings, 99)
            result(f"report {label}: p99 as admin through the gateway", p99, "ms",
                   anchor="GET /api/v1/me p99 through the gateway", anchor_value=anchor,
                   target="p99 ≤ 50 ms", passed=p99 <= 50,
                   p50_ms=statistics.median(timings), load=load)
    finally:
        system.stop()
    return 0


LOAD_STALL_S = 120      # no event kept for this long: the load has failed
LOAD_MIN_RATE = 10      # events/s below which the load counts as hung (the deadline)
PUBLISH_BATCH = 500     # events per confirm wait


def load_through_broker(system, count: int) -> None:
    """Publish a generated history to the system's `crm.events` and wait until the
    reporting service has kept every distinct event, saying how it goes; fails (rather
    than waiting on) when nothing is kept for LOAD_STALL_S or the whole load runs slower
    than LOAD_MIN_RATE events/s."""
    from _harness import AMQP_URL
    from crm.ferretdb import running_server_url
    from crmkit.bus.publisher import Publisher
    from crmkit.mongo import get_database
    from crmkit.queries import count_matching

    events = History().build(count)
    publisher = Publisher(AMQP_URL)
    started = time.perf_counter()
    for first in range(0, len(events), PUBLISH_BATCH):
        failed = [o for o in publisher.publish_batch(events[first:first + PUBLISH_BATCH])
                  if o is not None]
        if failed:
            raise SystemExit(f"bench: the broker refused {len(failed)} events: {failed[0]!r}")
    print(f"published {len(events):,} events in {time.perf_counter() - started:.1f} s",
          flush=True)
    kept_events = get_database(running_server_url(system.data_dir), "crm_reporting")["events"]
    distinct = len({e["id"] for e in events})
    deadline = time.monotonic() + max(600.0, distinct / LOAD_MIN_RATE)
    kept, progress_at, said_at = -1, time.monotonic(), time.monotonic()
    while True:
        now_kept = count_matching(kept_events, {})
        now = time.monotonic()
        if now_kept != kept:
            kept, progress_at = now_kept, now
        if kept >= distinct:
            break
        if now - said_at >= 10:
            rate = kept / (time.perf_counter() - started)
            print(f"  reporting kept {kept:,} of {distinct:,} events ({rate:,.0f}/s)",
                  flush=True)
            said_at = now
        if now - progress_at > LOAD_STALL_S or now > deadline:
            why = (f"no event kept for {LOAD_STALL_S} s" if now - progress_at > LOAD_STALL_S
                   else f"slower than {LOAD_MIN_RATE} events/s")
            raise SystemExit(f"bench: reporting kept {kept:,} of {distinct:,} events after "
                             f"{time.perf_counter() - started:.0f} s ({why}); see "
                             f"{system.log_path}")
        time.sleep(0.5)
    print(f"loaded {distinct:,} events through the broker in "
          f"{time.perf_counter() - started:.1f} s", flush=True)


def drain_from_bus(count: int, mongo_url: str, batch: int) -> int:
    """Events/s the reporting consumer sustains off the real broker (private vhost), in
    batches of `batch` (1: one at a time)."""
    import threading

    from _harness import AMQP_URL
    from crmkit.bus.consumer import EventConsumer
    from crmkit.bus.connection import connect
    from crmkit.bus.publisher import Publisher
    from crmkit.mongo import get_database
    from services.reporting.consumers import subscriptions
    from services.reporting.handlers import ReportingHandlers
    from services.reporting.repository import ReportingRepository

    events = History().build(count)
    store = ReportingRepository(get_database(mongo_url, f"bus_{uuid.uuid4().hex[:8]}"))
    store.ensure_indexes()
    handlers = ReportingHandlers(store)
    consumers = [EventConsumer(AMQP_URL, "reporting", subscriptions(handlers, batch), prefetch=64)
                 for _ in range(2)]
    with connect(AMQP_URL) as connection:
        consumers[0].declare(connection)
    publisher = Publisher(AMQP_URL)
    started = time.perf_counter()
    for event in events:
        publisher.publish(event)
    published = time.perf_counter() - started
    print(f"published {len(events):,} events with confirms in {published:.1f} s "
          f"({len(events) / published:,.0f}/s)")
    stop = threading.Event()
    started = time.perf_counter()
    threads = [threading.Thread(target=c.run, args=(stop,), daemon=True) for c in consumers]
    for thread in threads:
        thread.start()
    handled, progress_at = -1, time.monotonic()
    while handled < len(events):
        if sum(c.handled for c in consumers) != handled:
            handled, progress_at = sum(c.handled for c in consumers), time.monotonic()
        elif time.monotonic() - progress_at > LOAD_STALL_S:
            stop.set()
            raise SystemExit(f"bench: the consumers handled {handled:,} of "
                             f"{len(events):,} events, then none for {LOAD_STALL_S} s")
        time.sleep(0.05)
    drained = time.perf_counter() - started
    stop.set()
    for thread in threads:
        thread.join(3)
    print(f"reporting consumer (2 threads, {mongo_url}): {len(events):,} events in "
          f"{drained:.1f} s = {len(events) / drained:,.0f} events/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
