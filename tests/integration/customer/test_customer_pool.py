"""The pool: claim / return / recover / assign / share / unshare / delete / bulk, each
logged and announced; races decided by versions; claim limit and cool-down."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from crm_testing import Session, eventually, flask_transport

from customer_helpers import CUSTOMERS, EventSpy, create, url


def actions(session, customer) -> list[str]:
    return [h["action"] for h in session.get(url(customer, "/history")).json]


def test_claim_and_return_with_their_log_and_events(corg, customer_settings):
    owner, claimer = corg.user("rep"), corg.user("rep")
    pooled = create(owner, in_pool=True)
    with EventSpy(customer_settings.amqp_url, "customer.*") as spy:
        claimed = claimer.post(url(pooled, "/claim"))
        assert claimed.status_code == 200 and claimed.json["owner_id"] == claimer.id
        assert claimed.json["view"] == "full"
        again = owner.post(url(pooled, "/claim"))
        assert again.status_code == 409 and again.json["code"] == "already_claimed"
        returned = claimer.post(url(pooled, "/return"), json={"reason": "暂无需求"})
        assert returned.status_code == 200 and returned.json["owner_id"] is None
        assert returned.json["view"] == "public"
        not_claimed = claimer.post(url(pooled, "/return"), json={})
        assert not_claimed.status_code == 409
        event = eventually(lambda: spy.of("customer.returned", pooled["id"]), timeout=5)[0]
        assert event["data"]["previous_owner_id"] == claimer.id
        assert event["data"]["reason"] == "暂无需求" and event["actor_id"] == claimer.id
        assert spy.of("customer.claimed", pooled["id"])[0]["data"]["owner_id"] == claimer.id
    history = corg.admin.get(url(pooled, "/history")).json
    assert [h["action"] for h in history] == ["created", "claimed", "returned"]
    assert history[2]["changes"] == {"owner_id": [claimer.id, None]}
    assert history[2]["reason"] == "暂无需求"


def test_recover_by_a_superior_only(corg):
    rep = corg.user("rep", "east/shanghai/team-1")
    supervisor = corg.user("supervisor", "east/shanghai")
    outsider = corg.user("supervisor", "east/hangzhou")
    customer = create(rep)
    assert rep.post(url(customer, "/recover"), json={}).status_code == 403
    assert outsider.post(url(customer, "/recover"), json={}).status_code == 404
    recovered = supervisor.post(url(customer, "/recover"), json={"reason": "长期未跟进"})
    assert recovered.status_code == 200 and recovered.json["owner_id"] is None
    assert rep.get(url(customer)).json["view"] == "public"
    assert actions(corg.admin, customer)[-1] == "recovered"


def test_assign_moves_ownership_and_access(corg):
    rep, other = corg.user("rep"), corg.user("rep", "north/beijing/team-1", "north")
    supervisor = corg.user("supervisor", "east/shanghai")
    customer = create(rep)
    moved = rep.post(url(customer, "/assign"), json={"user_id": other.id})
    assert moved.status_code == 200 and moved.json["owner_id"] == other.id
    assert rep.get(url(customer)).status_code == 404  # the previous owner loses access
    assert other.get(url(customer)).json["view"] == "full"
    pooled = create(rep, in_pool=True)
    assert rep.post(url(pooled, "/assign"), json={"user_id": other.id}).status_code == 403
    given = supervisor.post(url(pooled, "/assign"), json={"user_id": rep.id})
    assert given.status_code == 200 and given.json["owner_id"] == rep.id
    unknown = supervisor.post(url(pooled, "/assign"), json={"user_id": "nobody"})
    assert unknown.status_code == 422 and unknown.json["code"] == "unknown_user"
    assert actions(corg.admin, customer)[-1] == "assigned"


def test_share_and_unshare(corg):
    rep, colleague = corg.user("rep"), corg.user("rep")
    customer = create(rep)
    assert colleague.get(url(customer)).status_code == 404
    shared = rep.post(url(customer, "/shares"), json={"user_ids": [colleague.id]})
    assert shared.status_code == 200 and shared.json["shared_with"] == [colleague.id]
    assert colleague.get(url(customer)).json["view"] == "full"
    gone = rep.delete(url(customer, f"/shares/{colleague.id}"))
    assert gone.status_code == 200 and gone.json["shared_with"] == []
    assert colleague.get(url(customer)).status_code == 404
    assert rep.delete(url(customer, f"/shares/{colleague.id}")).status_code == 404
    assert actions(rep, customer)[-2:] == ["shared", "unshared"]


def test_delete_only_unclaimed_and_only_by_supervisors(corg):
    rep, supervisor = corg.user("rep"), corg.user("supervisor", "east/shanghai")
    claimed = create(rep)
    refused = supervisor.delete(url(claimed))
    assert refused.status_code == 409 and refused.json["code"] == "customer_claimed"
    pooled = create(rep, in_pool=True)
    assert rep.delete(url(pooled)).status_code == 403
    deleted = supervisor.delete(url(pooled))
    assert deleted.status_code == 200 and deleted.json["deleted"] is True
    assert supervisor.get(url(pooled)).status_code == 404
    assert pooled["id"] not in {c["id"] for c in rep.get("/api/v1/pool?per_page=100").json["items"]}


def test_bulk_assign_deals_round_robin(corg):
    supervisor = corg.user("supervisor", "east/shanghai")
    reps = [corg.user("rep"), corg.user("rep")]
    ids = [create(supervisor, in_pool=True)["id"] for _ in range(5)]
    reply = supervisor.post(f"{CUSTOMERS}/bulk", json={
        "action": "assign", "ids": ids + ["CRM209901010001"], "user_ids": [r.id for r in reps]})
    assert reply.status_code == 200
    results = reply.json["results"]
    assert [r["ok"] for r in results] == [True] * 5 + [False]
    assert results[-1]["code"] == "not_found"
    for position, customer_id in enumerate(ids):
        assert corg.admin.get(url(customer_id)).json["owner_id"] == reps[position % 2].id


def test_bulk_claim_reports_each_result(corg):
    rep, other = corg.user("rep"), corg.user("rep")
    free = create(rep, in_pool=True)
    taken = create(other)
    reply = rep.post(f"{CUSTOMERS}/bulk", json={"action": "claim",
                                                "ids": [free["id"], taken["id"]]})
    assert reply.json["results"] == [
        {"id": free["id"], "ok": True},
        {"id": taken["id"], "ok": False, "code": "already_claimed",
         "detail": reply.json["results"][1]["detail"]}]
    assert rep.post(f"{CUSTOMERS}/bulk", json={"action": "fly", "ids": [free["id"]]}
                    ).status_code == 422
    assert rep.post(f"{CUSTOMERS}/bulk", json={"action": "assign", "ids": [free["id"]]}
                    ).status_code == 422


def test_bulk_return_share_and_delete(corg):
    supervisor = corg.user("supervisor", "east/shanghai")
    rep = corg.user("rep")
    mine = [create(rep)["id"] for _ in range(2)]
    shared = rep.post(f"{CUSTOMERS}/bulk", json={"action": "share", "ids": mine,
                                                 "user_ids": [supervisor.id]})
    assert all(r["ok"] for r in shared.json["results"])
    returned = rep.post(f"{CUSTOMERS}/bulk", json={"action": "return", "ids": mine})
    assert all(r["ok"] for r in returned.json["results"])
    deleted = supervisor.post(f"{CUSTOMERS}/bulk", json={"action": "delete", "ids": mine})
    assert all(r["ok"] for r in deleted.json["results"])


def test_twenty_concurrent_claims_have_exactly_one_winner(corg, csys):
    creator = corg.user("rep")
    pooled = create(creator, in_pool=True)
    claimers = [corg.user("rep") for _ in range(20)]
    sessions = [Session(flask_transport(csys.gateway.test_client()), c.token, c.user)
                for c in claimers]
    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(lambda s: s.post(url(pooled, "/claim")), sessions))
    statuses = sorted(r.status_code for r in replies)
    assert statuses == [200] + [409] * 19
    assert {r.json["code"] for r in replies if r.status_code == 409} == {"already_claimed"}
    winner = next(s for s, r in zip(sessions, replies) if r.status_code == 200)
    assert corg.admin.get(url(pooled)).json["owner_id"] == winner.id
    assert actions(corg.admin, pooled).count("claimed") == 1


def test_claim_limit_and_cooldown(corg):
    try:
        assert corg.admin.put("/api/v1/pool/rules", json={
            "claim_limit": 2, "reclaim_cooldown_days": 7}).status_code == 200
        rep = corg.user("rep")
        create(rep)
        first, second = (create(corg.admin, in_pool=True) for _ in range(2))
        assert rep.post(url(first, "/claim")).status_code == 200
        limited = rep.post(url(second, "/claim"))
        assert limited.status_code == 409 and limited.json["code"] == "claim_limit_reached"
        assert rep.post(url(first, "/return"), json={}).status_code == 200
        cooling = rep.post(url(first, "/claim"))
        assert cooling.status_code == 409 and cooling.json["code"] == "claim_cooldown"
        assert rep.post(url(second, "/claim")).status_code == 200
    finally:
        corg.admin.put("/api/v1/pool/rules", json={})


def test_concurrent_claims_by_one_rep_respect_the_limit(corg, csys):
    try:
        corg.admin.put("/api/v1/pool/rules", json={"claim_limit": 3})
        rep = corg.user("rep")
        pooled = [create(corg.admin, in_pool=True) for _ in range(8)]
        sessions = [Session(flask_transport(csys.gateway.test_client()), rep.token, rep.user)
                    for _ in pooled]
        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(pool.map(lambda pair: pair[0].post(url(pair[1], "/claim")),
                                    zip(sessions, pooled)))
        assert sorted(r.status_code for r in replies) == [200] * 3 + [409] * 5
        assert rep.get(f"{CUSTOMERS}?scope=mine").json["total"] == 3
    finally:
        corg.admin.put("/api/v1/pool/rules", json={})


def test_rules_are_admin_only_and_checked(corg):
    rep = corg.user("rep")
    assert rep.get("/api/v1/pool/rules").status_code == 200
    assert rep.put("/api/v1/pool/rules", json={"claim_limit": 1}).status_code == 403
    bad = corg.admin.put("/api/v1/pool/rules", json={"days_without_followup": 0})
    assert bad.status_code == 422 and "days_without_followup" in bad.json["errors"]
    unknown = corg.admin.put("/api/v1/pool/rules", json={"days": 3})
    assert unknown.status_code == 422 and unknown.json["code"] == "unknown_field"
    defaults = corg.admin.put("/api/v1/pool/rules", json={}).json
    assert defaults == {"auto_reclaim": False, "days_without_followup": None,
                        "days_without_deal": None, "level_days": {}, "exempt_statuses": [],
                        "warn_days_before": 0, "claim_limit": None,
                        "reclaim_cooldown_days": 0}


def test_unknown_user_ids_fail_fast_and_cannot_starve_the_service(corg):
    # Waiting for a just-created user's event once cost 3 s per unknown id, so parallel
    # bulk requests naming unknown ids held every thread: one request waits at a time,
    # for at most USER_WAIT_SECONDS in all.
    from services.customer.handlers import USER_WAIT_SECONDS

    supervisor = corg.user("supervisor", "east/shanghai")
    pooled = [create(supervisor, in_pool=True)["id"] for _ in range(20)]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(
            lambda n: supervisor.post("/api/v1/customers/bulk", json={
                "action": "assign", "ids": pooled,
                "user_ids": [f"nobody-{n}-{i}" for i in range(20)]}), range(8)))
    elapsed = time.monotonic() - started
    assert all(r.status_code == 200 for r in replies)
    assert all(not item["ok"] and item["code"] == "unknown_user"
               for reply in replies for item in reply.json["results"])
    # 8 requests × 20 unknown ids waited 480 s before; now about one wait in all
    assert elapsed < 4 * USER_WAIT_SECONDS + 20
