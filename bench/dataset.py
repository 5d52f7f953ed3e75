"""The scale data set of the benchmarks: a large multi-region sales organisation in a
FerretDB data folder that `crm up` (and `bench/_harness.System(data_dir=DIR)`) then runs on.

    .venv/bin/python bench/dataset.py --out DIR [--scale 1.0] [--indexes before|after]
        [--no-settle]

At scale 1.0: 2,000 users (3 regions, 60 teams; every one signs in with
`PASSWORD`), 200,000 customers with contacts (Chinese company names, pinyin, phones,
levels, statuses, owners spread over the reps, 15 % in the pool), 300,000 opportunities
(across the stages, some won or lost, with amounts) and 500,000 tasks (due in the past
and the future, default reminders). `--scale` multiplies every count (0.05 for a
quick check).

How it is loaded: each aggregate is made by its service's own domain code
(`Customer.create`, `Opportunity.open` and its stage changes, `create_task`,
`User.create`) and written by `insert_many` in batches as the service's repository
writes it: the document with its pending outbox envelopes inside (the single-document
rule), the customer's name reservation and search rows beside it. The events those
aggregates recorded are therefore the events the data set implies, and the running
system delivers them the way it delivers any event: `settle` starts `crm up` on the
folder, and its relays publish every pending outbox to the consumers (the reporting
counters, the opportunity service's customer copies, the task records, the user
directories) until nothing is pending. Only the user directories of the services are
written directly as well, so a benchmark never meets a user its service does not know.

A non-empty DIR is refused (the load is not idempotent: run it on a fresh folder).
"""
from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# after the project: bench/gateway.py must not stand in for the gateway package
sys.path.append(str(Path(__file__).resolve().parent))
if sys.path[0] == str(Path(__file__).resolve().parent):
    sys.path.pop(0)

PASSWORD = "Bench#User-2026"          # every generated user's password
REGIONS = ("east", "north", "south")
CITIES = {"east": ("shanghai", "hangzhou", "nanjing", "suzhou"),
          "north": ("beijing", "tianjin", "jinan", "shenyang"),
          "south": ("guangzhou", "shenzhen", "xiamen", "fuzhou")}
CITY_ZH = {"shanghai": "上海", "hangzhou": "杭州", "nanjing": "南京", "suzhou": "苏州",
           "beijing": "北京", "tianjin": "天津", "jinan": "济南", "shenyang": "沈阳",
           "guangzhou": "广州", "shenzhen": "深圳", "xiamen": "厦门", "fuzhou": "福州"}
# Two-character words a company name is made of: most pairs occur in many names, so a
# search by any 2-character substring finds a realistic number of customers.
CHARS = ("华信云帆浦江申远绿源西溪钱塘京北海港金桥东方恒达中联天成瑞丰博远鼎盛宏图"
         "新世纪长城嘉禾融创智达汇通亿联星河万象凯旋锦程立信泰和宇航明德昌隆永安")
TRADES = ("科技", "贸易", "物流", "机械", "食品", "教育", "医疗", "能源", "电子", "建材",
          "化工", "纺织", "传媒", "软件", "咨询", "制药", "汽车", "环保", "农业", "金融")
SUFFIXES = ("有限公司", "股份有限公司", "集团有限公司", "有限责任公司", "")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国文辉鹏飞"
TITLES = ("总经理", "采购经理", "技术总监", "财务总监", "行政主管", "销售经理", "IT经理")
INDUSTRIES = ("制造业", "信息技术", "零售", "金融", "教育", "医疗", "物流", "能源", "建筑")
SOURCES = ("官网", "展会", "转介绍", "电话营销", "广告", "合作伙伴")
TAGS = ("重点", "华东", "新客", "老客户", "高意向", "大客户", "待回访")
STATUSES = (("potential", 45), ("intent", 30), ("deal", 15), ("lost", 10))
LEVELS = (("A", 10), ("B", 25), ("C", 40), ("D", 25))
TASK_TYPES = ("visit", "call", "proposal", "followup", "other")
BATCH = 1000


def weighted(pairs):
    values, weights = zip(*pairs)
    return random.choices(values, weights)[0]


def say(text: str) -> None:
    print(text, flush=True)


class Rate:
    """Counts and rates of one loading step, printed when it ends."""

    def __init__(self, label: str):
        self.label, self.began, self.count = label, time.monotonic(), 0

    def add(self, count: int) -> None:
        self.count += count

    def done(self, extra: str = "") -> dict:
        seconds = time.monotonic() - self.began
        say(f"{self.label:<14} {self.count:>9,}  in {seconds:7.1f} s  "
            f"{self.count / seconds if seconds else 0:9,.0f} /s  {extra}")
        return {"count": self.count, "seconds": round(seconds, 1)}


# --------------------------------------------------------------------------- people

def make_users(scale: float):
    """Users as `User.create` makes them (one known password, hashed once), with their
    identities; 3 regions × 20 teams; each team a supervisor, each region a manager."""
    from crmkit.identity import Identity
    from gateway.identity.domain import User
    from gateway.identity.passwords import Argon2Hasher

    hashed = Argon2Hasher.from_env(os.environ).hash(PASSWORD)

    class Hashed:                     # the one hash, for every user
        def hash(self, _password):
            return hashed

    count = max(12, int(2000 * scale))
    teams_per_region = max(2, min(20, count // 30))
    teams = [(region, f"{region}/{city}/team-{n}")
             for region in REGIONS for n in range(1, teams_per_region + 1)
             for city in [CITIES[region][(n - 1) % len(CITIES[region])]]]
    users, identities = [], []
    now = datetime.now(timezone.utc) - timedelta(days=800)
    for index in range(count):
        region, team = teams[index % len(teams)]
        if index < len(REGIONS):
            role, region, team = "manager", REGIONS[index], f"{REGIONS[index]}"
        elif index < len(REGIONS) + len(teams):
            role, (region, team) = "supervisor", teams[index - len(REGIONS)]
        else:
            role = "rep"
        name = random.choice(SURNAMES) + "".join(random.choices(GIVEN, k=2))
        user = User.create(username=f"u{index:05d}", name=name, password=PASSWORD,
                           role=role, team=team, region=region, hasher=Hashed(),
                           must_change_password=False, now=now)
        users.append(user)
        identities.append(Identity(user.id, user.username, user.name, role, user.team,
                                   user.region))
    return users, identities


def load_users(databases, users) -> dict:
    """The gateway's users (pending `user.created` in each), and the same profiles in
    the services' user directories."""
    from crmkit.bus.outbox import outbox_fields
    from crmkit.directory import UserDirectory
    from crmkit.events import to_envelopes
    from gateway.identity.repository import UserRepository, to_document

    rate = Rate("users")
    repository = UserRepository(databases["gateway"])
    repository.ensure_indexes()
    docs, envelopes_all = [], []
    for user in users:
        envelopes = to_envelopes(user.events, producer="gateway", actor_id=None)
        envelopes_all.extend(envelopes)
        docs.append({**to_document(user), **outbox_fields(envelopes)})
        user.events.clear()
    for start in range(0, len(docs), BATCH):
        repository.users.insert_many(docs[start:start + BATCH], ordered=False)
        rate.add(len(docs[start:start + BATCH]))
    for service in ("customer", "opportunity", "tasks"):
        directory = UserDirectory(databases[service])
        directory.ensure_indexes()
        for envelope in envelopes_all:
            directory.apply(envelope)
    return rate.done("(and 3 service directories)")


# --------------------------------------------------------------------------- customers

def company_names(count: int):
    """Distinct companies as (name, normalised name)."""
    from services.customer import naming

    seen: set[str] = set()
    while len(seen) < count:
        words = "".join(random.choice(CHARS) + random.choice(CHARS) for _ in range(2))
        city = CITY_ZH[random.choice(random.choice(list(CITIES.values())))]
        name = f"{city}{words}{random.choice(TRADES)}{random.choice(SUFFIXES)}"
        normalized = naming.normalize_name(name)
        if normalized and normalized not in seen:
            seen.add(normalized)
            yield name, normalized


def load_customers(databases, identities, scale: float, since: datetime) -> tuple[dict, list]:
    """Customers as an import writes them (`insert_import_chunk`): search rows, then
    the documents with their events pending in their own outbox; name reservations
    and the day counters of the numbers beside them."""
    from crmkit.bus.outbox import outbox_fields
    from crmkit.events import to_envelopes
    from services.customer import numbering
    from services.customer.documents import TERMS_PENDING, customer_doc
    from services.customer.domain import Customer
    from services.customer.repository import CustomerRepository
    from services.customer.handlers.base import new_id
    from services.customer.handlers.imports import PRODUCER
    from crmkit import nesting
    import services.customer.schemas  # noqa: F401  (registers the event schemas)

    db = databases["customer"]
    repository = CustomerRepository(db)
    reps = [i for i in identities if i.role == "rep"]
    supervisors = [i for i in identities if i.role == "supervisor"]
    count = int(200_000 * scale)
    rate = Rate("customers")
    serials: dict[str, int] = {}
    customers_out = []          # (id, owner identity or None, region, name, contact id)
    batch_docs, batch_names = [], []
    span = (datetime.now(timezone.utc) - since).total_seconds()

    def flush():
        repository.terms.insert_for_new(batch_docs)
        repository.customers.insert_many(batch_docs, ordered=False)
        repository.names.names.insert_many(batch_names, ordered=False)
        rate.add(len(batch_docs))
        batch_docs.clear()
        batch_names.clear()

    for index, (name, normalized) in enumerate(company_names(count)):
        now = since + timedelta(seconds=span * index / count)
        day = numbering.number_day(now, repository_tz())
        key = numbering.day_key(day)
        serials[key] = serials.get(key, 0) + 1
        number = numbering.format_number(day, serials[key])
        in_pool = random.random() < 0.15
        actor = random.choice(supervisors if in_pool else reps)
        phone = f"1{random.choice('3456789')}{random.randrange(10**9):09d}"
        command = {
            "name": name, "status": weighted(STATUSES), "level": weighted(LEVELS),
            "industry": random.choice(INDUSTRIES), "source": random.choice(SOURCES),
            "tags": random.sample(TAGS, random.randint(0, 2)),
            "address": f"{random.randint(1, 999)}号", "size": random.choice(
                ["1-50", "50-200", "200-1000", "1000+"]),
            "primary_contact": {
                "name": random.choice(SURNAMES) + "".join(random.choices(GIVEN, k=2)),
                "phone": phone, "title": random.choice(TITLES)}}
        customer = Customer.create(actor, command, customer_id=number, number=number,
                                   contact_id=new_id(), now=now, in_pool=in_pool)
        envelopes = to_envelopes(customer.events, producer=PRODUCER, actor_id=actor.user_id)
        doc = {**customer_doc(customer), "history": nesting.encode(list(customer.log)),
               "interactions": [], **outbox_fields(envelopes)}
        doc.pop(TERMS_PENDING)
        batch_docs.append(doc)
        batch_names.append({"_id": normalized, "customer_id": number, "at": now})
        customers_out.append((number, None if in_pool else actor, customer.region, name,
                              customer.contacts[0].id, now))
        if len(batch_docs) >= BATCH // 4:
            flush()
    if batch_docs:
        flush()
    for key, seq in serials.items():
        repository.names.counters.update_one({"_id": f"customer-number:{key}"},
                                             {"$max": {"seq": seq}}, upsert=True)
    return rate.done(), customers_out


def repository_tz():
    from crmkit.clock import zone

    return zone(os.environ.get("CRM_TIMEZONE", "Asia/Shanghai"))


# --------------------------------------------------------------------------- opportunities

def load_opportunities(databases, customers, scale: float) -> dict:
    """Opportunities of claimed customers, opened by their owner and moved along the
    pipeline: some still open at a stage, some won, some lost."""
    from crmkit.bus.outbox import outbox_fields
    from crmkit.events import to_envelopes
    from crmkit.visibility import Owner
    from services.opportunity.customers import CustomerRef
    from services.opportunity.opportunity import Opportunity
    from services.opportunity.repository import OpportunityRepository, to_doc
    import services.opportunity.schemas  # noqa: F401

    repository = OpportunityRepository(databases["opportunity"])
    pipeline = repository.pipeline()
    stages = [s.key for s in pipeline.stages if s.key not in ("won", "lost")]
    owned = [c for c in customers if c[1] is not None]
    count = int(300_000 * scale)
    rate, docs = Rate("opportunities"), []
    today = date.today()
    for index in range(count):
        number, owner, region, name, _contact, created = random.choice(owned)
        opened = created + timedelta(days=random.randint(0, 300))
        opened = min(opened, datetime.now(timezone.utc) - timedelta(hours=1))
        ref = CustomerRef(id=number, owner=Owner(owner.user_id, owner.team, owner.region),
                          region=region, name=name)
        opp = Opportunity.open(
            viewer=owner, customer=ref, pipeline=pipeline,
            name=f"{name[:12]}{random.choice(['采购', '二期', '升级', '续约', '扩容'])}项目",
            amount=str(Decimal(random.randint(5, 2000) * 1000)),
            expected_close_date=today + timedelta(days=random.randint(-200, 200)),
            now=opened)
        fate = random.random()
        moved = opened
        for stage in stages[1:random.randint(1, max(1, len(stages)))]:
            moved += timedelta(days=random.randint(1, 20))
            opp.change_stage(stage, "推进", actor_id=owner.user_id, pipeline=pipeline,
                             now=moved)
        if fate < 0.2:
            opp.win(amount=str(opp.amount), contract_number=f"HT{index:08d}",
                    signed_on=min(moved.date() + timedelta(days=5), today),
                    actor_id=owner.user_id, now=moved + timedelta(days=5))
        elif fate < 0.3:
            opp.lose(reason="价格", actor_id=owner.user_id, now=moved + timedelta(days=5))
        envelopes = to_envelopes(opp.events, producer="opportunity", actor_id=owner.user_id)
        opp.events.clear()
        docs.append({**to_doc(opp), **outbox_fields(envelopes)})
        if len(docs) >= BATCH:
            repository.opportunities.insert_many(docs, ordered=False)
            rate.add(len(docs))
            docs.clear()
    if docs:
        repository.opportunities.insert_many(docs, ordered=False)
        rate.add(len(docs))
    return rate.done()


# --------------------------------------------------------------------------- tasks

def load_tasks(databases, customers, scale: float) -> dict:
    """Tasks of owned customers, due from 90 days ago to 90 days ahead, each with its
    default reminder (those of the past have fired: they are marked so)."""
    from crmkit.bus.outbox import outbox_fields
    from crmkit.events import to_envelopes
    from services.tasks.domain import create_task
    from services.tasks.repository import TaskRepository, task_to_doc
    import services.tasks.schemas  # noqa: F401

    repository = TaskRepository(databases["tasks"])
    owned = [c for c in customers if c[1] is not None]
    count = int(500_000 * scale)
    rate, docs = Rate("tasks"), []
    now = datetime.now(timezone.utc)
    for _ in range(count):
        number, owner, _region, name, _contact, _created = random.choice(owned)
        due = now + timedelta(minutes=random.randint(-90 * 1440, 90 * 1440))
        created = min(due, now) - timedelta(days=random.randint(1, 10))
        task = create_task(owner, title=f"{random.choice(['回访', '拜访', '报价', '演示'])}"
                           f"{name[:8]}", due_at=due, type=random.choice(TASK_TYPES),
                           customer_ids=[number], priority=random.choice(
                               ["low", "medium", "high"]), now=created)
        if due < now:
            for reminder in task.reminders:   # fired then (their notifications are
                if reminder.remind_at <= now:   # not part of the data set)
                    reminder.fired_at = reminder.remind_at
            if random.random() < 0.6:
                task.change_status(owner, "done", "已完成", now=due)
        envelopes = to_envelopes(task.events, producer="tasks", actor_id=owner.user_id)
        task.events.clear()
        docs.append({**task_to_doc(task), **outbox_fields(envelopes)})
        if len(docs) >= BATCH:
            repository.tasks.insert_many(docs, ordered=False)
            rate.add(len(docs))
            docs.clear()
    if docs:
        repository.tasks.insert_many(docs, ordered=False)
        rate.add(len(docs))
    return rate.done()


# --------------------------------------------------------------------------- the load

def ensure_indexes(databases) -> dict:
    """The indexes the services' repositories declare for the bulk collections (the
    rest, and these again, are made by `crm up` at its start)."""
    from services.customer.repository import CustomerRepository
    from services.opportunity.repository import OpportunityRepository
    from services.tasks.repository import Repositories

    rate = Rate("indexes")
    CustomerRepository(databases["customer"]).ensure_indexes()
    OpportunityRepository(databases["opportunity"]).ensure_indexes()
    Repositories(databases["tasks"]).ensure_indexes()
    return rate.done()


def pending_events(url: str, settings) -> int:
    """Documents whose outbox still holds events, over every service."""
    from pymongo import MongoClient

    from crmkit.bus.outbox import PENDING
    from crmkit.queries import count_matching

    client = MongoClient(url)
    total = 0
    for service, collections in (("gateway", ["users"]), ("customer", ["customers"]),
                                 ("opportunity", ["opportunities"]), ("tasks", ["tasks"])):
        db = client[settings.database_name(service)]
        total += sum(count_matching(db[c], {PENDING: True}) for c in collections)
    client.close()
    return total


def settle(out: Path, settings, timeout: float) -> dict:
    """Start `crm up` on the folder until its relays have delivered every pending event
    and the consumers are quiet (the reporting service's kept events stop growing)."""
    import json

    from _harness import System
    from pymongo import MongoClient

    rate = Rate("settle")
    system = System(data_dir=str(out))
    try:
        url = json.loads((out / "ferretdb.json").read_text())["url"]
        reporting = MongoClient(url)[settings.database_name("reporting")]["events"]
        deadline, last, still = time.monotonic() + timeout, -1, 0
        while time.monotonic() < deadline:
            pending = pending_events(url, settings)
            kept = reporting.estimated_document_count()
            say(f"  settle: {pending:,} documents with pending events, reporting kept "
                f"{kept:,} events")
            still = still + 1 if (pending == 0 and kept == last) else 0
            if still >= 2:
                break
            last = kept
            time.sleep(10)
        rate.add(kept)
    finally:
        system.stop()
    return rate.done("(events kept by reporting)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the data folder (new or empty)")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--indexes", choices=["before", "after"], default="before",
                        help="create the bulk collections' indexes before loading or "
                             "leave them to crm up's start")
    parser.add_argument("--no-settle", action="store_true",
                        help="leave the events pending (the next crm up delivers them)")
    parser.add_argument("--settle-only", action="store_true",
                        help="only deliver the pending events of a folder loaded before")
    parser.add_argument("--settle-timeout", type=float, default=4 * 3600)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    if args.settle_only:
        from crmkit.config import Settings

        say(f"dataset: {settle(out, Settings.from_env(), args.settle_timeout)}")
        return 0
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"dataset: {out} is not empty; give a new folder")
    out.mkdir(parents=True, exist_ok=True)
    random.seed(args.seed)

    from pymongo import MongoClient

    from crm.ferretdb import FerretServer, ensure_binary
    from crmkit.config import Settings

    settings = Settings.from_env()
    figures = {}
    began = time.monotonic()
    server = FerretServer(out, binary=ensure_binary(lambda text, **_: say(text))).start()
    try:
        client = MongoClient(server.url)
        databases = {name: client[settings.database_name(name)]
                     for name in ("gateway", "customer", "opportunity", "tasks", "reporting")}
        say(f"dataset: FerretDB on {out}, scale {args.scale}")
        if args.indexes == "before":
            figures["indexes"] = ensure_indexes(databases)
        users, identities = make_users(args.scale)
        figures["users"] = load_users(databases, users)
        since = datetime.now(timezone.utc) - timedelta(days=730)
        figures["customers"], customers = load_customers(databases, identities, args.scale,
                                                         since)
        figures["opportunities"] = load_opportunities(databases, customers, args.scale)
        figures["tasks"] = load_tasks(databases, customers, args.scale)
        if args.indexes == "after":
            figures["indexes"] = ensure_indexes(databases)
        client.close()
    finally:
        server.stop()
    figures["load_seconds"] = round(time.monotonic() - began, 1)
    say(f"dataset: loaded in {figures['load_seconds']:.0f} s")
    if not args.no_settle:
        figures["settle"] = settle(out, settings, args.settle_timeout)
    figures["total_seconds"] = round(time.monotonic() - began, 1)
    say(f"dataset: ready in {figures['total_seconds']:.0f} s: {figures}")
    say(f"dataset: users sign in as u00000..u{len(users) - 1:05d} with {PASSWORD!r}; "
        f"admin with the harness's ADMIN_PASSWORD")
    return 0


if __name__ == "__main__":
    sys.exit(main())
