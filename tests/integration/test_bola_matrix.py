"""The BOLA matrix (issue 12): every list, search, sort, filter, export and report
parameter of the public API, asked by every kind of caller of a small organisation, never
shows anything of a record the caller may not see (CONTRACT §3-§7).

The organisation: two regions; in `east` a team `east/sh` with subteams `t1` and `t2`
and a team `east/hz`; in `north` a team `north/bj`; reps, supervisors (of a team and of a
subteam), managers of each region, an admin. Customers owned across it (one shared across
regions with a user, one with a team of the other region, one in the pool, one returned
to the pool with an open opportunity), their contacts and follow-ups, opportunities
(open, won, lost), tasks (own, assigned, in the task pool, a follow-up plan), inbox
notifications and targets. Every record carries unique marker strings (names, phones,
needs, budgets, follow-ups' locations and key information, amounts...), so a leak is
found by searching an answer's text for the markers of the records its caller may not
see.

The matrix is driven by data: ENDPOINTS (each GET of /api/v1 with query parameters, every
export and every report) x PARAMS (explicit values for each parameter: a search term or
phone of a hidden record, each sortable field, each filter value), checked against the
merged OpenAPI document: an endpoint or parameter of the document that is neither in the
table nor in EXEMPT fails `test_every_endpoint_and_parameter_is_covered` as "not covered".
Each case is asked by a caller of each role where visibility differs (MATRIX_CALLERS).
"""
from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm_testing import eventually

API = "/api/v1"
NONCE = uuid.uuid4().hex[:6].upper()
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()
TOMORROW = TODAY + timedelta(days=1)

# --------------------------------------------------------------------------- the organisation

# key -> (role, team, region)
PEOPLE = {
    "r1": ("rep", "east/sh/t1", "east"),
    "r2": ("rep", "east/sh/t1", "east"),
    "r3": ("rep", "east/sh/t2", "east"),
    "r4": ("rep", "east/hz/t1", "east"),
    "r5": ("rep", "north/bj/t1", "north"),
    "s_sh": ("supervisor", "east/sh", "east"),
    "s_t2": ("supervisor", "east/sh/t2", "east"),
    "s_bj": ("supervisor", "north/bj", "north"),
    "m_e": ("manager", "east", "east"),
    "m_n": ("manager", "north", "north"),
    "admin": ("admin", None, None),
}
CALLERS = list(PEOPLE)
# Who asks each case of the matrix: a rep of another team, a rep of the other region
# holding a share, the supervisor of a subteam (the unowned records of the region, not
# the sibling team's), the manager of the other region; the admin where something is
# hidden even from admins (another's inbox). Each record by id is asked by those, a
# teammate of c1's owner holding no share of it (r2: a rep sees no teammate's records),
# the other region's supervisor (a member of a team shared with) and the admin; every
# caller's lists are checked in full against the model (test_the_organisation_is_as_built).
MATRIX_CALLERS = ["r4", "r5", "s_t2", "m_n"]
OBJECT_CALLERS = MATRIX_CALLERS + ["r2", "s_bj", "admin"]

# customer key -> (creator, in pool?, shared with); c_ret is returned to the pool later
CUSTOMER_SPECS = {
    "c1": ("r1", False, ["r5"]),   # shared across regions
    "c2": ("r2", False, []),
    "c3": ("r3", False, []),
    "c4": ("r4", False, []),
    "c5": ("r5", False, ["r3"]),
    "cpool": ("r2", True, []),
    "cret": ("r3", False, []),
}
# customer key -> team paths it is shared with (CONTRACT §11): every member of the team
# and below (here r5 and the supervisor s_bj, by membership, not by rank)
TEAM_SHARES = {"c4": ["north/bj"]}
# opportunity key -> (customer, outcome); amounts are powers of two (x1000, +11) so that
# any report total is a sum of a set of them and a hidden one cannot hide in a total
OPP_SPECS = {"o1": ("c1", "open"), "o2": ("c2", "won"), "o3": ("c3", "proposal"),
             "o4": ("c4", "lost"), "o5": ("c5", "won"), "oret": ("cret", "open")}
OPP_AMOUNTS = {key: Decimal(2 ** i * 1000 + 11) for i, key in enumerate(OPP_SPECS)}
TARGET_AMOUNTS = {("owner", key): Decimal(2 ** (i + 12) * 1000 + 77)
                  for i, key in enumerate(["r1", "r2", "r3", "r4", "r5"])}
TARGET_AMOUNTS.update({("team", "east/sh/t1"): Decimal(2 ** 18 * 1000 + 77),
                       ("team", "north/bj/t1"): Decimal(2 ** 19 * 1000 + 77),
                       ("region", "east"): Decimal(2 ** 20 * 1000 + 77),
                       ("region", "north"): Decimal(2 ** 21 * 1000 + 77)})


def marker(*parts: str) -> str:
    return "Zq" + "".join(p.replace("_", "").capitalize() for p in parts) + NONCE


def phone_of(index: int) -> str:
    return f"1392468{7000 + index}"


def masked(phone: str) -> str:
    return phone[:3] + "****" + phone[-4:]


def money(value: Decimal) -> str:
    return f"{value:.2f}"


def team_within(team, ancestor) -> bool:
    return bool(team and ancestor) and (team == ancestor or team.startswith(ancestor + "/"))


@dataclass
class Record:
    kind: str                     # customer | opportunity | task | notification | target
    key: str
    id: str | None = None
    owner: str | None = None      # person key; None: unowned (pool)
    region: str | None = None
    shared: list = field(default_factory=list)
    shared_teams: list = field(default_factory=list)
    public: list = field(default_factory=list)    # tokens of the public view (customers)
    private: list = field(default_factory=list)   # every other token
    assignee: str | None = None   # tasks
    creator: str | None = None    # tasks
    status: str | None = None     # opportunities: open | won | lost; tasks: open | done
    amount: Decimal | None = None
    scope: str | None = None      # targets: owner | team | region
    target_key: str | None = None


class World:
    def __init__(self, org):
        self.org = org
        self.sessions = {}
        self.users = {}           # key -> user dict
        self.records: dict[str, Record] = {}

    # ----------------------------------------------------------------- the rule (§3)

    def person(self, key):
        role, team, region = PEOPLE[key]
        return role, team, region

    def by_rank(self, viewer: str, owner: str | None) -> bool:
        """Sees `owner`'s records by being them or above them (not by sharing)."""
        role, team, region = self.person(viewer)
        if role == "admin" or owner == viewer:
            return True
        if owner is None:
            return False
        _, owner_team, owner_region = self.person(owner)
        if role == "supervisor":
            return team_within(owner_team, team)
        if role == "manager":
            return owner_region == region
        return False

    def holds_share(self, viewer: str, record: Record) -> bool:
        """Shared with the viewer, or with a team they are in (or below)."""
        return viewer in record.shared or any(
            team_within(PEOPLE[viewer][1], team) for team in record.shared_teams)

    def sees(self, viewer: str, record: Record) -> bool:
        role, team, region = self.person(viewer)
        if record.kind == "customer":
            if record.owner is None:
                return role == "admin"          # the pool: public view only
            return self.by_rank(viewer, record.owner) or self.holds_share(viewer, record)
        if record.kind == "opportunity":
            if record.owner is None:            # unowned: supervisors+ of its region
                return role == "admin" or (role in ("supervisor", "manager")
                                           and region == record.region)
            return self.by_rank(viewer, record.owner) or self.holds_share(viewer, record)
        if record.kind == "task":
            if role == "admin" or viewer in (record.assignee, record.creator):
                return True
            if record.assignee is None:
                return role in ("supervisor", "manager") and region == record.region
            return (viewer != record.assignee and self.by_rank(viewer, record.assignee)) or (
                record.creator is not None and self.by_rank(viewer, record.creator))
        if record.kind == "notification":
            return viewer == record.owner
        if record.kind == "target":
            if record.scope == "owner":
                return self.by_rank(viewer, record.target_key)
            if role == "admin":
                return True
            if record.scope == "team":
                return (role == "supervisor" and team_within(record.target_key, team)) or (
                    role == "manager" and record.region == region)
            return role in ("supervisor", "manager") and record.target_key == region
        raise AssertionError(record.kind)

    def visible(self, viewer: str, kind: str) -> list[Record]:
        return [r for r in self.records.values() if r.kind == kind and self.sees(viewer, r)]

    def forbidden(self, viewer: str, *, public_view: bool, people: bool,
                  allowed=()) -> dict[str, str]:
        """token -> what it belongs to, for every record `viewer` may not see."""
        tokens = {}
        for record in self.records.values():
            if self.sees(viewer, record):
                continue
            hidden = list(record.private)
            # a pool customer's public view is everyone's; an owned customer's only on
            # the public-view endpoints (the pool, the duplicate check)
            if not (record.owner is None and record.kind == "customer") and not public_view:
                hidden += record.public
            for token in hidden:
                tokens[token] = f"{record.kind} {record.key}"
        if people:  # figures (reports) or profiles of people not seen by rank
            for key, user in self.users.items():
                if not self.by_rank(viewer, key):
                    tokens[user["id"]] = f"user {key}"
        for token in allowed:
            tokens.pop(token, None)
        return tokens


# --------------------------------------------------------------------------- building it

def _ok(reply, *codes):
    assert reply.status_code in (codes or (200, 201)), reply
    return reply.json


def _eventually_created(session, path, body):
    """POST until the service has heard of what the body refers to (events)."""
    def attempt():
        reply = session.post(path, json=body)
        if reply.status_code == 422:
            return None
        return reply
    return _ok(eventually(attempt, message=f"POST {path} accepted"), 201)


@pytest.fixture(scope="module")
def world(system, org) -> World:
    w = World(org)
    for key, (role, team, region) in PEOPLE.items():
        session = org.admin if role == "admin" else org.user(
            role, team=team, region=region, name=f"Bola {key}")
        w.sessions[key] = session
        w.users[key] = session.user
    admin = w.sessions["admin"]
    ids = {key: user["id"] for key, user in w.users.items()}

    # customers, their contacts and follow-ups
    for index, (key, (creator, in_pool, shared)) in enumerate(CUSTOMER_SPECS.items()):
        phone = phone_of(index)
        body = {"name": marker(key, "name"), "industry": f"ind{key}", "status": "potential",
                "level": "ABCD"[index % 4], "source": f"src{key}", "tags": [f"tag{key}"],
                "needs": marker(key, "needs"), "source_detail": marker(key, "detail"),
                "primary_contact": {"name": marker(key, "contact"), "phone": phone},
                "budget": f"9{index}8642.31"}
        if in_pool:
            body["in_pool"] = True
        customer = _ok(w.sessions[creator].post(f"{API}/customers", json=body), 201)
        record = Record("customer", key, customer["id"], None if in_pool else creator,
                        PEOPLE[creator][2], shared=list(shared),
                        public=[customer["id"], customer["number"], body["name"]],
                        private=[phone, masked(phone), body["needs"], body["source_detail"],
                                 body["primary_contact"]["name"]])
        record.private.append(body["budget"])
        record.phone = phone
        w.records[key] = record
        if shared:
            _ok(w.sessions[creator].post(f"{API}/customers/{customer['id']}/shares",
                                         json={"user_ids": [ids[s] for s in shared]}))
        if TEAM_SHARES.get(key):
            record.shared_teams = TEAM_SHARES[key]
            _ok(w.sessions[creator].post(f"{API}/customers/{customer['id']}/shares",
                                         json={"teams": record.shared_teams}))
        if not in_pool:
            said = {f: marker(key, f) for f in ("subject", "content", "location",
                                                "key_information")}
            _ok(w.sessions[creator].post(f"{API}/customers/{customer['id']}/interactions",
                                         json={"occurred_at": datetime.now(timezone.utc)
                                               .isoformat(), "method": "call", **said}), 201)
            record.private += list(said.values())
        contact = _ok(w.sessions["admin"].get(f"{API}/customers/{customer['id']}/contacts"))
        items = contact["items"] if isinstance(contact, dict) else contact
        record.contact_ids = [c["id"] for c in items]
        record.private += record.contact_ids

    # opportunities: open, moved on, won, lost
    for key, (customer_key, outcome) in OPP_SPECS.items():
        customer = w.records[customer_key]
        owner = customer.owner
        session = w.sessions[owner]
        amount = OPP_AMOUNTS[key]
        body = {"name": marker(key, "opp"), "customer_id": customer.id,
                "amount": money(amount), "expected_close_date": TOMORROW.isoformat(),
                "description": marker(key, "desc")}
        opp = _eventually_created(session, f"{API}/opportunities", body)
        record = Record("opportunity", key, opp["id"], owner, PEOPLE[owner][2],
                        shared=list(customer.shared),
                        shared_teams=list(customer.shared_teams), amount=amount, status="open",
                        private=[opp["id"], body["name"], body["description"], money(amount)])
        w.records[key] = record
        if outcome == "proposal":
            _ok(session.post(f"{API}/opportunities/{opp['id']}/stage",
                             json={"stage": "proposal", "note": marker(key, "note")}))
            record.private.append(marker(key, "note"))
        elif outcome == "won":
            contract = marker(key, "contract")
            _ok(session.post(f"{API}/opportunities/{opp['id']}/win", json={
                "amount": money(amount), "contract_number": contract,
                "signed_on": TODAY.isoformat()}))
            record.status = "won"
            record.private.append(contract)
        elif outcome == "lost":
            reason = marker(key, "reason")
            _ok(session.post(f"{API}/opportunities/{opp['id']}/lose", json={"reason": reason}))
            record.status = "lost"
            record.private.append(reason)
    # a follow-up plan (lands in r1's calendar as a task)
    plan_content = marker("o1", "plan")
    start = datetime.combine(TOMORROW, datetime.min.time(), ZoneInfo("Asia/Shanghai")) \
        + timedelta(hours=10)
    _ok(w.sessions["r1"].post(f"{API}/opportunities/{w.records['o1'].id}/followup-plans",
                              json={"start_at": start.isoformat(),
                                    "end_at": (start + timedelta(hours=1)).isoformat(),
                                    "method": "call", "content": plan_content}), 201)
    w.records["o1"].private.append(plan_content)

    # cret goes back to the pool: its open opportunity becomes unowned (east)
    _ok(w.sessions["r3"].post(f"{API}/customers/{w.records['cret'].id}/return", json={}))
    w.records["cret"].owner = None
    w.records["oret"].owner = None
    eventually(lambda: admin.get(f"{API}/opportunities/{w.records['oret'].id}")
               .json.get("owner_id") is None, message="the returned customer's opportunity "
               "is unowned")

    # tasks: each rep's own (with a reminder: an inbox notification), one a supervisor
    # assigns, one in the task pool
    due = start + timedelta(hours=3)
    remind_at = datetime.now(timezone.utc) + timedelta(seconds=2)
    task_specs = [(f"t{n}", f"r{n}", f"r{n}", f"c{n}") for n in range(1, 6)]
    task_specs += [("tbj", "s_bj", "r5", "c5"), ("tpool", "m_e", None, None)]
    for key, creator, assignee, customer_key in task_specs:
        body = {"title": marker(key, "title"), "type": "call", "due_at": due.isoformat(),
                "description": marker(key, "desc")}
        if customer_key:
            body["customer_ids"] = [w.records[customer_key].id]
        if creator != assignee:
            body["assignee_id"] = ids[assignee] if assignee else None
        if creator == assignee:
            body["reminders"] = [{"remind_at": remind_at.isoformat()}]
        task = _eventually_created(w.sessions[creator], f"{API}/tasks", body)
        w.records[key] = Record("task", key, task["id"], region=PEOPLE[creator][2],
                                assignee=assignee, creator=creator, status="open",
                                private=[task["id"], body["title"], body["description"]])
    # the follow-up plan's task, as the tasks service made it
    plans = eventually(lambda: [t for t in admin.get(f"{API}/tasks?per_page=100").json["items"]
                                if plan_content in str(t)], message="the plan's task")
    for task in plans:
        w.records["tplan"] = Record("task", "tplan", task["id"], region="east",
                                    assignee=key_of(ids, task.get("assignee_id")),
                                    creator=key_of(ids, task.get("created_by")),
                                    status="open", private=[task["id"]])
    # the inbox: a reminder each (t1..t5); r5 is also told of the task s_bj gave them
    for n in range(1, 6):
        who = f"r{n}"
        kinds = ["reminder", "task_assigned"] if who == "r5" else ["reminder"]
        notes = eventually(lambda: (lambda items: items if sorted(
            i["kind"] for i in items) == kinds else None)(w.sessions[who].get(
                f"{API}/notifications?per_page=100").json["items"]),
            message=f"{who}'s inbox: {kinds}")
        for note in notes:
            w.records[f"n{n}-{note['id']}"] = Record("notification", f"n{n}", note["id"],
                                                     owner=who, private=[note["id"]])

    # targets of this month
    period = TODAY.strftime("%Y-%m")
    for (scope, key), amount in TARGET_AMOUNTS.items():
        body = {"period": period, "amount": money(amount)}
        body[{"owner": "owner_id", "team": "team", "region": "region"}[scope]] = \
            ids[key] if scope == "owner" else key
        eventually(lambda: admin.put(f"{API}/targets", json=body).status_code == 200,
                   message=f"target {scope} {key}")
        region = PEOPLE[key][2] if scope == "owner" else key.split("/")[0]
        w.records[f"target-{scope}-{key}"] = Record(
            "target", key, region=region, scope=scope, target_key=key, amount=amount,
            private=[money(amount)])

    # reporting has taken in everything
    customers = [r for r in w.records.values() if r.kind == "customer" and r.owner]
    opps = [r for r in w.records.values() if r.kind == "opportunity"]
    expected = {"customers": len(customers), "customers_in_pool": 2,
                "opportunities_open": sum(r.status == "open" for r in opps),
                "won_amount": money(sum(r.amount for r in opps if r.status == "won")),
                "tasks_open": sum(r.kind == "task" for r in w.records.values())}
    eventually(lambda: {k: admin.get(f"{API}/reports/summary").json.get(k)
                        for k in expected} == expected, message="reports caught up")
    eventually(lambda: admin.get(f"{API}/reports/win-loss").json["lost"]["count"] == 1
               and sum(r["interactions"] for r in admin.get(
                   f"{API}/reports/performance?group_by=owner").json["rows"]) >= 6,
               message="reports caught up with losses and follow-ups")
    return w


def key_of(ids: dict, user_id):
    return next((k for k, v in ids.items() if v == user_id), None)


# --------------------------------------------------------------------------- the table

# Endpoints of the matrix: path -> (kind of its items, baseline query, public view?)
LIST, EXPORT, REPORT, PUBLIC, PRINT = "list", "export", "report", "public", "print"
ENDPOINTS = {
    "/customers": ("customer", LIST, {"per_page": "100"}),
    "/customers/export": ("customer", EXPORT, {"format": "csv"}),
    "/customers/print": ("customer", PRINT, {"all": "true"}),
    "/pool": ("customer", PUBLIC, {"per_page": "100"}),
    "/customers/duplicates": ("customer", PUBLIC, {"name": "Zq"}),
    "/customers/reclaim-due": ("customer", LIST, {}),
    "/opportunities": ("opportunity", LIST, {"per_page": "100"}),
    "/tasks": ("task", LIST, {"per_page": "100"}),
    "/calendar": ("task", LIST, {"view": "month", "date": TOMORROW.isoformat()}),
    "/notifications": ("notification", LIST, {"per_page": "100"}),
    "/targets": ("target", LIST, {}),
    "/reports/summary": (None, REPORT, {}),
    "/reports/funnel": (None, REPORT, {}),
    "/reports/performance": (None, REPORT, {"period": "year"}),
    "/reports/activity": (None, REPORT, {"period": "year"}),
    "/reports/forecast": (None, REPORT, {}),
    "/reports/forecast-vs-target": (None, REPORT, {"period": "year"}),
    "/reports/customer-value": (None, REPORT, {}),
    "/reports/win-loss": (None, REPORT, {}),
    "/users/directory": ("user", PUBLIC, {}),
    "/users": ("user", LIST, {"per_page": "100"}),
}
# GET endpoints outside the matrix, and why.
EXEMPT = {
    "/me": "the caller's own profile",
    "/pipeline": "the organisation's stage configuration: no owned records",
    "/pool/rules": "the organisation's pool rules: no owned records",
    "/settings": "the organisation's settings (上下级强制共享, data dictionary): no owned "
                 "records; each role in tests/integration/gateway/test_org_settings_system.py",
    "/reports/rebuild": "admin-only status of a read-model rebuild: no records",
    "/customers/imports": "the caller's own background imports (an admin's: all): "
                          "tests/integration/customer/test_customer_import_runs.py",
    "/customers/imports/{run_id}": "one background import, its starter's and the admins': "
                                   "tests/integration/customer/test_customer_import_runs.py",
    "/admin/dead-letters": "admin only (checked in test_admin_only_endpoints)",
    "/calendar.ics": "no bearer token: the feed of whoever holds the secret calendar "
                     "token, i.e. /calendar of its owner",
    "/openapi.json": "the API description",
    "/events/catalog": "the event catalog",
    "/customers/{customer_id}/attachments/{attachment_id}": "one attachment: its parent "
        "is loaded as /customers/{customer_id}/attachments loads it (test_bola_objects); "
        "each role in tests/integration/customer/test_customer_attachments.py",
    "/customers/{customer_id}/interactions/{interaction_id}/attachments": "a follow-up's "
        "attachments: tests/integration/customer/test_customer_attachments.py",
    "/customers/{customer_id}/interactions/{interaction_id}/attachments/{attachment_id}":
        "tests/integration/customer/test_customer_attachments.py",
    "/opportunities/{opportunity_id}/attachments/{attachment_id}": "each role in "
        "tests/integration/opportunity/test_opportunity_attachments.py",
    "/tasks/{task_id}/attachments/{attachment_id}": "each role in "
        "tests/integration/tasks/test_tasks_attachments.py",
    # The contracts service (CONTRACT §9): its lists, filters and reports by role are
    # tests/integration/contracts/test_contracts_api.py (owner, sharee, team member,
    # supervisor, manager, admin, stranger).
    "/quotes": "contracts service: test_contracts_api.py",
    "/quotes/{quote_id}": "contracts service: test_contracts_api.py",
    "/contracts": "contracts service: test_contracts_api.py",
    "/contracts/{contract_id}": "contracts service: test_contracts_api.py",
    "/contracts/{contract_id}/attachments": "contracts service: test_contracts_api.py",
    "/contracts/{contract_id}/attachments/{attachment_id}":
        "contracts service: test_contracts_api.py",
    "/receivables": "contracts service: test_contracts_api.py",
    "/receivables/collections": "contracts service: test_contracts_api.py",
    "/receivables/amount-vs-collected": "contracts service: test_contracts_api.py",
}
# Object endpoints (path ids): each record of the kind, asked by every caller.
OBJECTS = {
    "/customers/{customer_id}": "customer",
    "/customers/{customer_id}/contacts": "customer",
    "/customers/{customer_id}/contacts/{contact_id}": "customer",
    "/customers/{customer_id}/history": "customer",
    "/customers/{customer_id}/interactions": "customer",
    "/customers/{customer_id}/attachments": "customer",
    "/customers/{customer_id}/print": "customer",
    "/opportunities/{opportunity_id}/attachments": "opportunity",
    "/tasks/{task_id}/attachments": "task",
    "/opportunities/{opportunity_id}": "opportunity",
    "/opportunities/{opportunity_id}/followup-plans": "opportunity",
    "/opportunities/{opportunity_id}/history": "opportunity",
    "/opportunities/{opportunity_id}/reminders": "opportunity",
    "/tasks/{task_id}": "task",
    "/users/{user_id}": "user",
}
OBJECT_QUERY = {  # query parameters of object endpoints: (name, values)
    ("/customers/{customer_id}/interactions", "page"): ["2"],
    ("/customers/{customer_id}/interactions", "per_page"): ["1"],
    ("/customers/{customer_id}/interactions", "sort"): ["-occurred_at"],
    ("/customers/{customer_id}/print", "format"): ["html", "pdf"],
}

# Records whose values probe the filters: the shared one, one of another team, one of
# another region, the pool's, the returned one.
PROBE_CUSTOMERS = ["c1", "c4", "c5", "cpool", "cret"]
PROBE_OPPS = ["o1", "o4", "oret"]
PROBE_USERS = ["r1", "r4", "r5", "s_sh", "m_e"]
DATES = [TODAY.isoformat(), (TODAY + timedelta(days=400)).isoformat()]


def _sortable(module: str, name: str = "SORTABLE"):
    import importlib

    fields_ = sorted(getattr(importlib.import_module(module), name))
    # each field once, alternately ascending and descending
    return [("-" if i % 2 else "") + f for i, f in enumerate(fields_)]


CUSTOMER_SORTS = _sortable("services.customer.repository")
# parameter -> values: a literal, or ("customer"|"opportunity"|"user", key, attribute)
PARAMS = {
    "page": ["1", "2"],
    "per_page": ["1", "100"],
    "sort": CUSTOMER_SORTS,
    "q": [("customer", k, a) for k in PROBE_CUSTOMERS
          for a in ("name", "phone", "contact")]
    + [("opportunity", k, "name") for k in PROBE_OPPS],
    "status": ["potential", "intent", "deal", "lost"],
    "level": ["A", "B", "C", "D"],
    "industry": [f"ind{k}" for k in ("c1", "c5", "cpool")],
    "tag": [f"tag{k}" for k in ("c4", "c5", "cret")],
    "source": [f"src{k}" for k in ("c1", "c4", "cpool")],
    "owner_id": [("user", k, "id") for k in PROBE_USERS],
    "region": ["east", "north"],
    "created_from": DATES,
    "created_to": DATES,
    "no_followup_since": DATES,
    "scope": ["mine", "shared", "team", "all"],
    "format": ["csv", "xlsx"],
    "claimed": ["true", "false"],
    "name": [("customer", k, "name") for k in PROBE_CUSTOMERS] + ["Zq", "ZqC"],
    "within_days": ["0", "30", "3650"],
    "stage": ["lead", "needs_analysis", "proposal", "negotiation", "contract"],
    "customer_id": [("customer", k, "id") for k in PROBE_CUSTOMERS],
    "opportunity_id": [("opportunity", k, "id") for k in PROBE_OPPS],
    "close_from": DATES,
    "close_to": DATES,
    "unread": ["true", "false"],
    "view": ["day", "week", "month"],
    "date": [TOMORROW.isoformat(), TODAY.isoformat()],
    "user_id": [("user", k, "id") for k in PROBE_USERS],
    "team": ["east/sh", "east/sh/t1", "east/hz", "north", "north/bj/t1"],
    "from": [TODAY.isoformat(), (TODAY - timedelta(days=400)).isoformat()],
    "to": [TOMORROW.isoformat(), (TODAY + timedelta(days=400)).isoformat()],
    "group_by": ["owner", "team", "region"],
    "period": ["month", "quarter", "year"],
    "model": ["abc", "rfm"],
    "as_of": [TODAY.isoformat(), (TODAY + timedelta(days=400)).isoformat()],
    "priority": ["high", "medium", "low"],
    "type": ["visit", "call", "proposal", "internal", "followup", "other"],
    "due_before": DATES,
    "due_after": DATES,
    "assignee_id": [("user", k, "id") for k in PROBE_USERS],
    "role": ["rep", "supervisor", "manager", "admin"],
}
# per-endpoint values where a parameter means something else there
PARAMS_AT = {
    ("/opportunities", "sort"): _sortable("services.opportunity.repository"),
    ("/opportunities", "status"): ["open", "won", "lost"],
    ("/pool", "sort"): CUSTOMER_SORTS,   # private fields must be refused (422)
    ("/tasks", "sort"): _sortable("services.tasks.repository"),
    ("/tasks", "scope"): ["mine", "created", "team", "pool", "all"],
    ("/tasks", "status"): ["todo", "in_progress", "done", "shelved"],
    ("/notifications", "sort"): ["created_at", "-created_at"],
    ("/calendar", "scope"): ["mine", "team"],
    ("/targets", "scope"): ["owner", "team", "region"],
    ("/targets", "period"): [TODAY.strftime("%Y-%m"), TODAY.strftime("%Y"), "2000-01"],
    ("/reports/summary", "format"): ["json", "csv", "xlsx"],
    ("/reports/forecast", "period"): ["month", "quarter", "year"],
    ("/reports/forecast-vs-target", "period"): ["month", "quarter", "year"],
}
for _path, (_kind, _how, _base) in ENDPOINTS.items():
    if _how == REPORT:
        PARAMS_AT[(_path, "format")] = ["json", "csv", "xlsx"]
PUBLIC_SORTS = set(_sortable("services.customer.repository", "PUBLIC_SORTABLE"))
# the parameters each endpoint takes (checked against the OpenAPI document)
_CUSTOMER_FILTERS = ["page", "per_page", "sort", "q", "status", "level", "industry", "tag",
                     "source", "owner_id", "region", "created_from", "created_to",
                     "no_followup_since"]
_REPORT_FILTERS = ["format", "owner_id", "team", "region"]
ENDPOINT_PARAMS = {
    "/customers": _CUSTOMER_FILTERS + ["scope"],
    "/customers/export": _CUSTOMER_FILTERS + ["scope", "format"],
    "/customers/print": _CUSTOMER_FILTERS + ["scope", "format", "all"],
    "/pool": _CUSTOMER_FILTERS + ["claimed"],
    "/customers/duplicates": ["name"],
    "/customers/reclaim-due": ["within_days"],
    "/opportunities": ["page", "per_page", "sort", "scope", "stage", "status", "owner_id",
                       "customer_id", "close_from", "close_to", "q"],
    "/tasks": ["page", "per_page", "sort", "scope", "status", "priority", "type",
               "due_before", "due_after", "customer_id", "opportunity_id", "assignee_id"],
    "/calendar": ["view", "date", "user_id", "scope"],
    "/notifications": ["page", "per_page", "sort", "unread"],
    "/targets": ["scope", "period"],
    "/reports/summary": ["format"],
    "/reports/funnel": _REPORT_FILTERS + ["from", "to"],
    "/reports/performance": _REPORT_FILTERS + ["from", "to", "group_by", "period"],
    "/reports/activity": _REPORT_FILTERS + ["from", "to", "group_by", "period"],
    "/reports/forecast": _REPORT_FILTERS + ["from", "to", "period"],
    "/reports/forecast-vs-target": _REPORT_FILTERS + ["from", "to", "group_by", "period"],
    "/reports/customer-value": _REPORT_FILTERS + ["model", "as_of", "page", "per_page"],
    "/reports/win-loss": _REPORT_FILTERS + ["from", "to"],
    "/users/directory": ["q", "role", "team", "region"],
    "/users": ["q", "role", "team", "region", "page", "per_page", "sort", "active"],
}
PARAMS_AT[("/users/directory", "q")] = ["Bola", "Bola r5"]
PARAMS_AT[("/users", "q")] = ["Bola", "Bola r5", "Bola s"]
PARAMS_AT[("/users", "sort")] = sorted(__import__(
    "gateway.identity.repository", fromlist=["SORTABLE"]).SORTABLE)
PARAMS["active"] = ["true", "false"]
PARAMS_AT[("/customers/print", "format")] = ["html", "pdf"]
PARAMS["all"] = ["true", "false"]


def values_for(path: str, name: str):
    return PARAMS_AT.get((path, name), PARAMS.get(name))


CASES = []
for _path, _names in ENDPOINT_PARAMS.items():
    CASES.append((_path, None, None))
    for _name in _names:
        for _value in values_for(_path, _name) or ():
            CASES.append((_path, _name, _value))


def _case_id(case) -> str:
    path, name, value = case
    if name is None:
        return f"{path}"
    shown = "-".join(value) if isinstance(value, tuple) else value
    return f"{path}?{name}={shown}"


# --------------------------------------------------------------------------- reading answers

def answer_text(reply) -> str:
    """An answer as text: JSON and CSV as they are, a workbook's cells joined."""
    kind = reply.headers.get("Content-Type", "")
    if "spreadsheetml" in kind or reply.data[:2] == b"PK":
        from openpyxl import load_workbook

        book = load_workbook(io.BytesIO(reply.data), read_only=True)
        return "\n".join("\t".join("" if c is None else str(c) for c in row)
                         for sheet in book.worksheets for row in sheet.iter_rows(values_only=True))
    if kind.startswith("application/pdf"):
        from pypdf import PdfReader

        return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(reply.data)).pages)
    return reply.data.decode("utf-8-sig")


def leaks(text: str, forbidden: dict[str, str]) -> list[str]:
    found = []
    for token, what in forbidden.items():
        if re.fullmatch(r"[\d.]+", token):   # an amount: not as part of a longer number
            if re.search(r"(?<![\d.])" + re.escape(token) + r"(?![\d])", text):
                found.append(f"{token} ({what})")
        elif token in text:
            found.append(f"{token} ({what})")
    return found


def resolve(world: World, value):
    if not isinstance(value, tuple):
        return value, None
    kind, key, attribute = value
    if kind == "user":
        return world.users[key]["id"], None
    record = world.records[key]
    if attribute == "id":
        return record.id, record
    if attribute == "name":
        return record.public[2] if kind == "customer" else record.private[1], record
    if attribute == "number":
        return record.public[1], record
    if attribute == "phone":
        return record.phone, record
    if attribute == "contact":
        return record.private[4], record
    if attribute == "needs":
        return record.private[2], record
    raise AssertionError(value)


MONEY_KEYS = {"amount", "won_amount", "pipeline_amount", "total_amount", "monetary"}


def _money_values(data, found=None, key=None):
    found = [] if found is None else found
    if isinstance(data, dict):
        for k, v in data.items():
            _money_values(v, found, k)
    elif isinstance(data, list):
        for v in data:
            _money_values(v, found, key)
    elif isinstance(data, str) and key in MONEY_KEYS | {"target"}:
        found.append((key, Decimal(data)))
    return found


def subset_sums(amounts) -> set:
    sums = {Decimal(0)}
    for amount in amounts:
        sums |= {s + amount for s in sums}
    return sums


def check_report(world: World, caller: str, path: str, data: dict) -> list[str]:
    """Figures no larger than what the caller may see: every amount a sum of visible
    amounts, every count at most the visible count."""
    problems = []
    opps = world.visible(caller, "opportunity")
    amounts = subset_sums(r.amount for r in opps)
    targets = subset_sums(r.amount for r in world.visible(caller, "target"))
    for key, value in _money_values(data):
        if value not in (targets if key == "target" else amounts):
            problems.append(f"{key} {value} is no sum of visible amounts")
    open_n = sum(r.status == "open" for r in opps)
    won_n = sum(r.status == "won" for r in opps)
    lost_n = sum(r.status == "lost" for r in opps)
    counts = []
    if path == "/reports/summary":
        counts = [("customers", data["customers"], len(world.visible(caller, "customer"))),
                  ("opportunities_open", data["opportunities_open"], open_n),
                  ("tasks_open", data["tasks_open"], len(world.visible(caller, "task")))]
    elif path in ("/reports/funnel", "/reports/win-loss"):
        counts = [("won", data["won"]["count"], won_n), ("lost", data["lost"]["count"], lost_n)]
        if path == "/reports/funnel":
            counts.append(("open", sum(s["count"] for s in data["stages"]), open_n))
    elif path == "/reports/forecast":
        counts = [("open", data["total"]["count"], open_n)]
    elif path in ("/reports/performance", "/reports/activity",
                  "/reports/forecast-vs-target"):
        group_by = data.get("group_by")
        seen_by_rank = [k for k in PEOPLE if world.by_rank(caller, k)]
        allowed = {"owner": {world.users[k]["id"] for k in seen_by_rank},
                   "team": {PEOPLE[k][1] for k in seen_by_rank} | set(
                       r.target_key for r in world.visible(caller, "target")
                       if r.scope == "team"),
                   "region": {PEOPLE[k][2] for k in seen_by_rank} | set(
                       r.target_key for r in world.visible(caller, "target")
                       if r.scope == "region")}[group_by] | {None}
        if PEOPLE[caller][0] in ("supervisor", "manager"):
            allowed.add(PEOPLE[caller][2])  # the pool of their region (by region)
        for row in data["rows"]:
            if row["key"] not in allowed:
                problems.append(f"a row of {row['key']!r}, not seen by rank")
        if path == "/reports/performance":
            counts = [("won", sum(r["won_count"] for r in data["rows"]), won_n)]
    elif path == "/reports/customer-value":
        counts = [("customers", len(data["items"]),
                   sum(r.status == "won" for r in opps))]
    for name, got, most in counts:
        if got > most:
            problems.append(f"{name} counts {got}, the caller sees {most}")
    return problems


def check_list(world: World, caller: str, kind: str, how: str, path: str, reply,
               name, value, probe) -> list[str]:
    problems = []
    if how == PRINT:   # a page, no JSON: checked for markers of hidden records only
        return problems
    if how == EXPORT and reply.status_code == 200:
        text = answer_text(reply)
        rows = (list(csv.reader(io.StringIO(text)))[1:] if "," in text.split("\n", 1)[0]
                else text.split("\n")[1:])
        rows = [r for r in rows if r]
        if len(rows) > len(world.visible(caller, kind)):
            problems.append(f"{len(rows)} rows, the caller sees "
                            f"{len(world.visible(caller, kind))}")
        return problems
    data = reply.json
    if not isinstance(data, dict) or "items" not in data:
        return problems
    items = data["items"]
    if how == PUBLIC:
        # the public view matches and sorts on public fields only for records the caller
        # may not see in full (CONTRACT §4 keeps `q` on contacts and phones for the
        # rest): a private value of such a record must not find it
        if probe is not None and name in ("q", "name") and value not in probe.public \
                and not world.sees(caller, probe):
            if any(i.get("id") == probe.id for i in items):
                problems.append(f"found {probe.key} by a private value")
        return problems
    if kind in ("customer", "opportunity", "task", "notification", "user") \
            and "total" in data:
        most = len([k for k in PEOPLE if world.by_rank(caller, k)]) if kind == "user" \
            else len(world.visible(caller, kind))
        if data["total"] > most:
            problems.append(f"total {data['total']}, the caller sees {most}")
    return problems


# --------------------------------------------------------------------------- the tests

@pytest.fixture(scope="module")
def openapi(world):
    document = world.sessions["admin"].get(f"{API}/openapi.json")
    assert document.status_code == 200
    return document.json


def test_every_endpoint_and_parameter_is_covered(openapi):
    """A GET of the document that is neither in the matrix nor exempt, or a query
    parameter without values in the table: "not covered"."""
    not_covered = []
    for full_path, operations in openapi["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        path = full_path[len(API):]
        params = [p for p in operation.get("parameters", []) + operations.get("parameters", [])
                  if p.get("in") == "query"]
        if path in EXEMPT:
            continue
        if path in OBJECTS:
            for p in params:
                if (path, p["name"]) not in OBJECT_QUERY:
                    not_covered.append(f"GET {full_path} ?{p['name']}")
            continue
        if path not in ENDPOINT_PARAMS:
            not_covered.append(f"GET {full_path}")
            continue
        for p in params:
            if p["name"] not in ENDPOINT_PARAMS[path] or not values_for(path, p["name"]):
                not_covered.append(f"GET {full_path} ?{p['name']}")
    assert not not_covered, "not covered by the BOLA matrix: " + ", ".join(not_covered)


def test_the_organisation_is_as_built(world):
    """The model of who sees what is right where it matters (the matrix is not vacuous):
    each caller's lists hold exactly the visible records."""
    wrong = []
    for caller in CALLERS:
        session = world.sessions[caller]
        for kind, path in (("customer", "/customers"), ("opportunity", "/opportunities"),
                           ("task", "/tasks"), ("notification", "/notifications")):
            got = {i["id"] for i in session.get(f"{API}{path}?per_page=100").json["items"]}
            want = {r.id for r in world.visible(caller, kind)}
            if got != want:
                wrong.append(f"{caller} {path}: extra {sorted(got - want)}, "
                             f"missing {sorted(want - got)}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("case", CASES, ids=[_case_id(c) for c in CASES])
def test_bola_matrix(world, case):
    path, name, spec = case
    kind, how, base = ENDPOINTS[path]
    value, probe = resolve(world, spec) if name else (None, None)
    query = dict(base)
    if name:
        query[name] = value
    problems = []
    for caller in MATRIX_CALLERS + (["admin"] if path == "/notifications" else []):
        reply = world.sessions[caller].get(f"{API}{path}", headers={}) if not query else \
            world.sessions[caller].get(f"{API}{path}?" + "&".join(
                f"{k}={_quote(v)}" for k, v in query.items()))
        where = f"{caller} GET {path}?{'&'.join(f'{k}={v}' for k, v in query.items())}"
        if reply.status_code >= 500:
            problems.append(f"{where}: {reply.status_code}")
            continue
        if reply.status_code >= 300:
            continue   # refused: nothing shown
        if path == "/pool" and name == "sort" and value.lstrip("-") not in {
                s.lstrip("-") for s in PUBLIC_SORTS}:
            problems.append(f"{where}: sorts the pool by a private field")
        text = answer_text(reply)
        forbidden = world.forbidden(caller, public_view=how == PUBLIC,
                                    people=how == REPORT or path == "/users",
                                    allowed=[value] if value else ())
        found = leaks(text, forbidden)
        if found:
            problems.append(f"{where}: shows {', '.join(found)}")
        if how == REPORT:
            if reply.headers.get("Content-Type", "").startswith("application/json"):
                problems += [f"{where}: {p}" for p in
                             check_report(world, caller, path, reply.json)]
        else:
            problems += [f"{where}: {p}" for p in
                         check_list(world, caller, kind, how, path, reply, name, value, probe)]
    assert not problems, "\n".join(problems)


def _quote(value: str) -> str:
    from urllib.parse import quote

    return quote(str(value), safe="")


def _object_cases():
    for path, kind in OBJECTS.items():
        yield path, None, None
        for (p, name), values in OBJECT_QUERY.items():
            if p == path:
                for value in values:
                    yield path, name, value


OBJECT_CASES = list(_object_cases())


@pytest.mark.parametrize("case", OBJECT_CASES, ids=[_case_id(c) for c in OBJECT_CASES])
def test_bola_objects(world, case):
    """Each record by its id, asked by OBJECT_CALLERS: 404 when hidden (a pool customer:
    its public view, its inner parts refused), never a marker of a hidden record."""
    path, name, value = case
    kind = OBJECTS[path]
    problems = []
    if kind == "user":  # profiles: supervisors and up, of the people they oversee
        records = [Record("user", key, user["id"], owner=key)
                   for key, user in world.users.items()]
    else:
        records = [r for r in world.records.values() if r.kind == kind]
    for record in records:
        contact_ids = getattr(record, "contact_ids", None) or [None]
        url = re.sub(r"\{(customer|opportunity|task|user)_id\}", record.id, path).replace(
            "{contact_id}", str(contact_ids[0]))
        if name:
            url += f"?{name}={_quote(value)}"
        for caller in OBJECT_CALLERS if name is None else MATRIX_CALLERS:
            reply = world.sessions[caller].get(f"{API}{url}")
            where = f"{caller} GET {url} ({record.key})"
            if kind == "user":
                sees = PEOPLE[caller][0] != "rep" and world.by_rank(caller, record.key)
            else:
                sees = world.sees(caller, record)
            pool_customer = kind == "customer" and record.owner is None
            if sees:
                if reply.status_code != 200:
                    problems.append(f"{where}: {reply.status_code}, the caller sees it")
                continue
            if pool_customer:
                # the record and its print show the public view; its parts are refused
                expected = 200 if path in ("/customers/{customer_id}",
                                           "/customers/{customer_id}/print") else 403
            elif kind == "user" and PEOPLE[caller][0] == "rep":
                expected = 403
            else:
                expected = 404
            if reply.status_code != expected:
                problems.append(f"{where}: {reply.status_code}, expected {expected}")
            found = leaks(answer_text(reply) if reply.status_code == 200 else
                          reply.data.decode("utf-8", "replace"),
                          world.forbidden(caller, public_view=False, people=False))
            if found:
                problems.append(f"{where}: shows {', '.join(found)}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", ["/admin/dead-letters?service=customer",
                                  "/reports/rebuild"])
def test_admin_only_endpoints(world, path):
    for caller in CALLERS:
        status = world.sessions[caller].get(f"{API}{path}").status_code
        assert status == (200 if caller == "admin" else 403), (caller, path, status)
