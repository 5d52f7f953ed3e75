"""Schemathesis against the merged OpenAPI (issue 12): every documented operation of the
whole system (gateway + four services, in this process, on the real broker), as the admin
and as a rep, with a bounded and deterministic budget. Checks: no 5xx, every status code
documented, the documented content type, the body as the documented schema."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, strategies as st

from crm_testing import eventually

EXAMPLES = 6            # generated cases per operation and role (fuzzing phase)
SEED = 20260412         # fixed: CI generates the same cases every run
CUSTOMERS = "/api/v1/customers"
CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance")

# Left out, each for a reason (every other documented operation is tested):
SKIPPED = {
    # Replays every parked message of a service onto the live queues: fuzzed bodies
    # would re-run other cases' failed deliveries into the shared system mid-run.
    ("POST", "/api/v1/admin/dead-letters/replay"):
        "replays parked messages into the shared system",
    # Starts a full rebuild of every report projection; while it runs the report
    # operations answer about the rebuild, not the data, for every later case.
    ("POST", "/api/v1/reports/rebuild"): "rebuilds every projection of the shared system",
}


@pytest.fixture(scope="module")
def people(org):
    """The rep under test, and another rep: the user the admin's cases may edit,
    deactivate or reset (never the admin nor the rep whose token the cases carry)."""
    return {"admin": org.admin, "rep": org.user("rep"), "other": org.user("rep")}


def _later(**delta) -> str:
    return (datetime.now(timezone.utc) + timedelta(**delta)).isoformat(timespec="seconds")


def _created(reply, status: int = 201) -> dict:
    assert reply.status_code == status, reply
    return reply.json


def _seed(org, rep, other) -> dict:
    """Records of the rep's (the admin sees them too), whose ids the generated cases
    use half of the time: so that operations answer with real data too, not only 404.
    Each destructive operation gets records of its own (a victim): deleting, returning
    or reassigning the one customer would turn every later case on it into a 404."""
    def customer():
        return _created(rep.post(CUSTOMERS, json={
            "name": f"契约测试{uuid.uuid4().hex[:8]}科技有限公司", "industry": "软件",
            "status": "potential", "primary_contact": {"name": "王经理",
                                                       "phone": "13812345678"}}))["id"]

    def first_contact(customer_id):
        listed = _created(rep.get(f"{CUSTOMERS}/{customer_id}/contacts"), 200)
        items = listed["items"] if isinstance(listed, dict) else listed
        return items[0]["id"]

    main = customer()
    ids = {"customer_id": main, "contact_id": first_contact(main), "user_id": other.id}
    ids["interaction_id"] = _created(rep.post(f"{CUSTOMERS}/{main}/interactions", json={
        "occurred_at": "2026-01-05T10:00:00+08:00", "method": "call", "subject": "首次沟通",
        "content": "介绍产品", "contact_ids": [ids["contact_id"]]}))["id"]

    def open_opportunity():
        reply = rep.post("/api/v1/opportunities", json={
            "name": "契约测试设备采购项目", "customer_id": main, "amount": "120000.50",
            "expected_close_date": _later(days=90)[:10]})
        return reply.json if reply.status_code == 201 else None

    ids["opportunity_id"] = eventually(open_opportunity, timeout=20,
                                       message="customer known to opportunities")["id"]
    _created(rep.post(f"/api/v1/opportunities/{ids['opportunity_id']}/followup-plans", json={
        "start_at": _later(days=30), "end_at": _later(days=30, hours=1),
        "method": "visit", "content": "上门演示"}))
    _created(rep.post(f"/api/v1/opportunities/{ids['opportunity_id']}/reminders",
                      json={"remind_at": _later(days=29), "note": "带样品"}))

    def task_for_rep():   # assigned by the admin: the rep's inbox gets a notification
        reply = org.admin.post("/api/v1/tasks", json={
            "title": "契约测试拜访", "due_at": _later(days=31),
            "customer_ids": [main], "assignee_id": rep.id})
        return reply.json if reply.status_code == 201 else None

    ids["task_id"] = eventually(task_for_rep, timeout=20, message="tasks know the rep")["id"]
    ids["note_id"] = eventually(
        lambda: (rep.get("/api/v1/notifications").json or {}).get("items"),
        timeout=20, message="the rep's notification")[0]["id"]

    victims = {}
    for operation in (("DELETE", "/api/v1/customers/{customer_id}"),
                      ("POST", "/api/v1/customers/{customer_id}/return"),
                      ("POST", "/api/v1/customers/{customer_id}/assign")):
        victims[operation] = {"customer_id": customer()}
    doomed = customer()
    victims[("DELETE", "/api/v1/customers/{customer_id}/contacts/{contact_id}")] = {
        "customer_id": doomed, "contact_id": first_contact(doomed)}
    return {"ids": ids, "victims": victims}


def _with_real_ids(schema, seeded) -> None:
    """Half of the generated cases of an operation with path parameters take the seeded
    records' ids instead (chosen by Hypothesis, so as deterministic as the rest)."""
    @schema.hook("flatmap_path_parameters")
    def real_ids(context, path_parameters):
        operation = context.operation
        if not path_parameters or operation is None:
            return st.just(path_parameters)
        real = {**seeded["ids"],
                **seeded["victims"].get((operation.method.upper(), operation.path), {})}
        chosen = {name: real.get(name, value) for name, value in path_parameters.items()}
        return st.sampled_from([path_parameters, chosen])


def _config(token: str):
    return schemathesis.Config.from_dict({
        "seed": SEED,
        "headers": {"Authorization": f"Bearer {token}"},
        "generation": {"mode": "all", "max-examples": EXAMPLES, "deterministic": True,
                       "database": "none"},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": False},
                   "stateful": {"enabled": False}, "fuzzing": {"enabled": True}},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


@pytest.fixture(scope="module", params=["admin", "rep"])
def api(request, system, org, people):
    """The merged OpenAPI, loaded from the gateway, calling it in-process as `role`,
    over records of its own (the admin's cases must not close the rep's ones)."""
    role = request.param
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", system.gateway,
                                            config=_config(people[role].token))
    # a service the gateway could not reach leaves a gap in the merged document
    for path in ("/api/v1/users", CUSTOMERS, "/api/v1/opportunities", "/api/v1/tasks",
                 "/api/v1/reports/summary"):
        assert path in schema.raw_schema["paths"], f"{path} missing from the merged OpenAPI"
    _with_real_ids(schema, _seed(org, people["rep"], people["other"]))
    statuses: dict[str, set[int]] = {}

    @schema.hook("after_call")
    def record(context, case, response):
        statuses.setdefault(case.operation.label, set()).add(response.status_code)

    started = time.monotonic()
    yield schema
    answered = sum(any(code < 300 for code in codes) for codes in statuses.values())
    print(f"\nschemathesis as {role}: {len(statuses)} operations in "
          f"{time.monotonic() - started:.1f}s, {answered} of them answered 2xx")
    for label, codes in sorted(statuses.items()):
        print(f"  {label}: {sorted(codes)}")


schema = schemathesis.pytest.from_fixture("api").exclude(
    func=lambda ctx: (ctx.operation.method.upper(), ctx.operation.path) in SKIPPED)


@schema.parametrize()
@hypothesis.settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=list(HealthCheck),
                     phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate])
def test_api_conforms(case):
    """Shrinking is off (a failure is reported as generated) and so is the database of
    past failures: the same cases every run, within the budget."""
    case.call_and_validate()
