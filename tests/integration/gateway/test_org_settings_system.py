"""参数设置 and team sharing (CONTRACT §11) through the gateway, in the running system on the
real local RabbitMQ: an admin edits the settings, every service takes the data
dictionary from `settings.updated`, 上下级强制共享 decides what superiors see at once, and
a customer shared with a team is seen by every present and future member of it and of
the teams below it."""
from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import pytest

from crm_testing import consumers_of, eventually, handled

SETTINGS = "/api/v1/settings"
CUSTOMERS = "/api/v1/customers"
SERVICES_WITH_A_COPY = ("customer", "opportunity", "tasks")
DEFAULTS = {"superiors_see_subordinates": True, "dictionary": {
    "industry": [], "source": [], "tags": {}, "relation": [], "loss_reason": [],
    "task_type": []}}


def team_path() -> str:
    """A team of this test alone (settings are org-wide; teams keep tests apart)."""
    return f"t{uuid.uuid4().hex[:8]}"


def customer_body(**overrides) -> dict:
    return {"name": f"共享测试{uuid.uuid4().hex[:8]}科技有限公司", "industry": "软件",
            "status": "potential",
            "primary_contact": {"name": "王经理", "phone": "13812345678"}, **overrides}


def new_customer(session, **overrides) -> dict:
    reply = session.post(CUSTOMERS, json=customer_body(**overrides))
    assert reply.status_code == 201, reply
    return reply.json


def import_csv(session, text: str) -> dict:
    boundary = f"----crm{uuid.uuid4().hex}"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="list.csv"\r\nContent-Type: text/csv\r\n\r\n'.encode()
            + text.encode("utf-8") + f"\r\n--{boundary}--\r\n".encode())
    reply = session.request("POST", f"{CUSTOMERS}/import", data=body,
                            content_type=f"multipart/form-data; boundary={boundary}")
    assert reply.status_code == 200, reply
    return reply.json


def put_settings(system, org, body: dict) -> dict:
    """PUT /settings as the admin, and wait until every service holding a copy has it."""
    with ExitStack() as waits:
        for service in SERVICES_WITH_A_COPY:
            waits.enter_context(handled(
                consumers_of(system, service),
                lambda envelope: envelope["type"] == "settings.updated"))
        reply = org.admin.put(SETTINGS, json=body)
        assert reply.status_code == 200, reply
    return reply.json


@pytest.fixture
def restore(system, org):
    """Each test leaves the organisation's settings as the defaults."""
    yield
    put_settings(system, org, {})


# ------------------------------------------------------------------------ the settings API

@pytest.mark.parametrize("role", ["rep", "supervisor", "manager", "admin"])
def test_anyone_signed_in_reads_the_settings_and_the_defaults_restrict_nothing(system, org,
                                                                               role):
    reader = org.admin if role == "admin" else org.user(role)
    reply = reader.get(SETTINGS)
    assert reply.status_code == 200
    assert {k: reply.json[k] for k in DEFAULTS} == DEFAULTS
    assert reply.headers["ETag"]
    assert org.anonymous().get(SETTINGS).status_code == 401


@pytest.mark.parametrize("role", ["rep", "supervisor", "manager"])
def test_only_an_admin_changes_the_settings(system, org, role):
    session = org.user(role)
    refused = session.put(SETTINGS, json={"superiors_see_subordinates": False})
    assert refused.status_code == 403
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert org.admin.get(SETTINGS).json["superiors_see_subordinates"] is True


@pytest.mark.parametrize("body, field", [
    ({"dictionary": {"industry": ["金融", "金融"]}}, "dictionary.industry"),
    ({"dictionary": {"source": [""]}}, "dictionary.source"),
    ({"dictionary": {"tags": {"规模": ["大客户", "大客户"]}}}, "dictionary.tags.规模"),
    ({"dictionary": {"task_type": ["拜访"]}}, "dictionary.task_type"),
    ({"dictionary": {"industry": "金融"}}, "dictionary.industry"),
    ({"superiors_see_subordinates": "no"}, "superiors_see_subordinates"),
])
def test_a_bad_edit_is_a_422_naming_the_field_and_changes_nothing(system, org, body, field):
    before = org.admin.get(SETTINGS).json
    reply = org.admin.put(SETTINGS, json=body)
    assert reply.status_code == 422, reply
    assert field in reply.json["errors"]
    assert org.admin.get(SETTINGS).json == before


@pytest.mark.parametrize("body", [{"colour": "red"}, {"dictionary": {"regions": ["x"]}}])
def test_unknown_keys_are_refused(system, org, body):
    reply = org.admin.put(SETTINGS, json=body)
    assert reply.status_code == 422 and reply.json["code"] == "unknown_field"


def test_a_stale_if_match_is_412(system, org, restore):
    version = org.admin.get(SETTINGS).json["version"]
    assert put_settings(system, org, {"dictionary": {"source": ["展会"]}})["version"] == \
        version + 1
    stale = org.admin.put(SETTINGS, json={}, headers={"If-Match": str(version)})
    assert stale.status_code == 412
    assert org.admin.get(SETTINGS).json["dictionary"]["source"] == ["展会"]


# ------------------------------------------------------------------------ the data dictionary

def test_the_services_accept_only_the_dictionarys_values(system, org, restore):
    put_settings(system, org, {"dictionary": {
        "industry": ["制造业", "软件"], "source": ["展会"],
        "tags": {"规模": ["大客户"], "阶段": ["重点"]}, "relation": ["配偶"],
        "loss_reason": ["价格"], "task_type": ["visit", "call"]}})
    rep = org.user("rep")

    refused = rep.post(CUSTOMERS, json=customer_body(industry="农业", source="广告",
                                                     tags=["大客户", "随便"]))
    assert refused.status_code == 422 and refused.json["code"] == "not_in_dictionary"
    assert set(refused.json["errors"]) == {"industry", "source", "tags"}

    customer = new_customer(rep, industry="制造业", source="展会", tags=["大客户", "重点"])
    imported = import_csv(rep, "name,industry,status,contact_name,contact_phone\n"
                               f"导入{uuid.uuid4().hex[:8]}公司,农业,potential,张,13812340000\n"
                               f"导入{uuid.uuid4().hex[:8]}公司,软件,potential,张,13812340001\n")
    assert imported["created"] == 1
    assert [(e["row"], e["field"]) for e in imported["errors"]] == [(2, "industry")]
    patched = rep.patch(f"{CUSTOMERS}/{customer['id']}", json={"industry": "农业"})
    assert patched.status_code == 422 and "industry" in patched.json["errors"]
    contact = {"name": "李四", "phone": "13912345678", "relations": [
        {"relation": "同学", "name": "王五"}]}
    refused = rep.post(f"{CUSTOMERS}/{customer['id']}/contacts", json=contact)
    assert refused.status_code == 422 and "relations" in refused.json["errors"]
    contact["relations"][0]["relation"] = "配偶"
    assert rep.post(f"{CUSTOMERS}/{customer['id']}/contacts", json=contact).status_code == 201

    due = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    refused = rep.post("/api/v1/tasks", json={"title": "写方案", "type": "proposal",
                                              "due_at": due})
    assert refused.status_code == 422 and "type" in refused.json["errors"]
    assert rep.post("/api/v1/tasks", json={"title": "拜访", "type": "visit",
                                           "due_at": due}).status_code == 201

    def opened():
        reply = rep.post("/api/v1/opportunities", json={
            "name": "设备采购", "customer_id": customer["id"], "amount": "1000.00",
            "expected_close_date": "2026-12-31"})
        return reply if reply.status_code != 422 else None
    opportunity = eventually(opened, message="customer known to opportunities").json
    lose = f"/api/v1/opportunities/{opportunity['id']}/lose"
    refused = rep.post(lose, json={"reason": "天气"})
    assert refused.status_code == 422 and "reason" in refused.json["errors"]
    assert rep.post(lose, json={"reason": "价格"}).status_code == 200


def test_an_empty_dictionary_is_free_text(system, org, restore):
    put_settings(system, org, {"dictionary": {"industry": ["制造业"]}})
    rep = org.user("rep")
    assert rep.post(CUSTOMERS, json=customer_body(industry="农业")).status_code == 422
    put_settings(system, org, {})
    new_customer(rep, industry="农业", source="随便", tags=["什么都行"])


# ------------------------------------------------------------------------ 上下级强制共享

def test_superiors_see_subordinates_only_while_the_switch_is_on(system, org, restore):
    team = team_path()
    rep = org.user("rep", team=f"{team}/a")
    supervisor = org.user("supervisor", team=team)
    manager = org.user("manager", team="hq", region="east")
    admin = org.admin
    customer = new_customer(rep)
    path = f"{CUSTOMERS}/{customer['id']}"
    for superior in (supervisor, manager):
        assert superior.get(path).status_code == 200
        assert customer["id"] in {c["id"] for c in superior.get(
            f"{CUSTOMERS}?scope=team&per_page=100").json["items"]}

    put_settings(system, org, {"superiors_see_subordinates": False})
    for superior in (supervisor, manager):
        assert superior.get(path).status_code == 404
        assert superior.patch(path, json={"level": "A"}).status_code == 404
        assert customer["id"] not in {c["id"] for c in superior.get(
            f"{CUSTOMERS}?per_page=100").json["items"]}
    assert admin.get(path).status_code == 200            # an admin still sees everything
    assert rep.get(path).status_code == 200              # and the owner their own

    # What a subordinate shares with the superior they see again (as a sharee).
    shared = rep.post(f"{path}/shares", json={"user_ids": [supervisor.user["id"]]})
    assert shared.status_code == 200, shared
    assert supervisor.get(path).status_code == 200
    assert supervisor.patch(path, json={"level": "A"}).status_code == 403
    assert customer["id"] in {c["id"] for c in supervisor.get(
        f"{CUSTOMERS}?scope=team&per_page=100").json["items"]}
    assert manager.get(path).status_code == 404

    put_settings(system, org, {"superiors_see_subordinates": True})
    assert manager.get(path).status_code == 200
    assert supervisor.patch(path, json={"level": "B"}).status_code == 200


# ------------------------------------------------------------------------ team shares

def test_a_team_share_reaches_the_team_below_and_later_members(system, org):
    team = team_path()
    owner = org.user("rep", team=f"{team}-owner")
    member = org.user("rep", team=f"{team}/east")
    below = org.user("rep", team=f"{team}/east/a")
    sibling = org.user("rep", team=f"{team}/west")
    above = org.user("rep", team=team)
    look_alike = org.user("rep", team=f"{team}/eastern")
    customer = new_customer(owner)
    path = f"{CUSTOMERS}/{customer['id']}"
    for session in (member, below, sibling, above, look_alike):
        assert session.get(path).status_code == 404

    shared = owner.post(f"{path}/shares", json={"teams": [f"/{team.upper()}/East/"]})
    assert shared.status_code == 200, shared
    assert shared.json["shared_teams"] == [f"{team}/east"]     # the team path as stored
    for session in (member, below):
        seen = session.get(path)
        assert seen.status_code == 200 and seen.json["primary_contact"]["phone"]
        assert customer["id"] in {c["id"] for c in session.get(
            f"{CUSTOMERS}?scope=shared&per_page=100").json["items"]}
        assert session.patch(path, json={"level": "A"}).status_code == 403   # a sharee
    for session in (sibling, above, look_alike):
        assert session.get(path).status_code == 404

    newcomer = org.user("rep", team=f"{team}/east/b/c")     # created after the share
    assert newcomer.get(path).status_code == 200

    history = owner.get(f"{path}/history").json
    assert any("shared_teams" in (entry.get("changes") or {}) for entry in history)

    # Unsharing the team: its members lose it.
    assert owner.delete(f"{path}/shares/teams/{team}/west").status_code == 404
    assert member.delete(f"{path}/shares/teams/{team}/east").status_code == 403
    gone = owner.delete(f"{path}/shares/teams/{team}/east")
    assert gone.status_code == 200 and gone.json["shared_teams"] == []
    for session in (member, below, newcomer):
        assert session.get(path).status_code == 404


def test_a_team_share_is_seen_by_the_other_services(system, org):
    team = team_path()
    owner = org.user("rep", team=f"{team}-owner")
    member = org.user("rep", team=f"{team}/a")
    customer = new_customer(owner)

    def opened():
        reply = owner.post("/api/v1/opportunities", json={
            "name": "设备采购", "customer_id": customer["id"], "amount": "1000.00",
            "expected_close_date": "2026-12-31"})
        return reply if reply.status_code != 422 else None
    opportunity = eventually(opened, message="customer known to opportunities").json
    opportunity_path = f"/api/v1/opportunities/{opportunity['id']}"
    assert member.get(opportunity_path).status_code == 404

    def signed():
        reply = owner.post("/api/v1/contracts", json={
            "customer_id": customer["id"], "amount": "1000.00", "signed_on": "2026-11-01"})
        return reply if reply.status_code != 422 else None
    contract = eventually(signed, message="customer known to contracts").json
    contract_path = f"/api/v1/contracts/{contract['id']}"
    assert member.get(contract_path).status_code == 404

    assert owner.post(f"{CUSTOMERS}/{customer['id']}/shares",
                      json={"teams": [team]}).status_code == 200
    eventually(lambda: member.get(opportunity_path).status_code == 200,
               message="the team share reaches the opportunity")
    # contracts follow the customer's sharees as its owner (CONTRACT §9): read, not change
    eventually(lambda: member.get(contract_path).status_code == 200,
               message="the team share reaches the contract")
    assert contract["id"] in {c["id"] for c in member.get(
        f"/api/v1/contracts?customer_id={customer['id']}").json["items"]}
    assert member.patch(contract_path, json={"notes": "x"}).status_code == 403
    assert opportunity["id"] in {o["id"] for o in member.get(
        "/api/v1/opportunities?scope=shared").json["items"]}

    due = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()

    def linked():
        reply = member.post("/api/v1/tasks", json={
            "title": "回访", "type": "call", "due_at": due, "customer_ids": [customer["id"]]})
        return reply if reply.status_code != 422 else None
    assert eventually(linked, message="the team share reaches tasks").status_code == 201


@pytest.mark.parametrize("body, field", [
    ({}, "user_ids"),
    ({"teams": ["east//a"]}, "teams.0"),
    ({"teams": [""]}, "teams.0"),
    ({"teams": "east"}, "teams"),
])
def test_a_bad_share_is_a_422_naming_the_field(system, org, body, field):
    owner = org.user("rep")
    customer = new_customer(owner)
    reply = owner.post(f"{CUSTOMERS}/{customer['id']}/shares", json=body)
    assert reply.status_code == 422, reply
    assert field in reply.json["errors"]
    assert owner.get(f"{CUSTOMERS}/{customer['id']}").json["shared_teams"] == []


def test_a_stranger_may_not_share_or_unshare_a_team(system, org):
    owner = org.user("rep", team=team_path())
    stranger = org.user("rep", team=team_path())
    customer = new_customer(owner)
    path = f"{CUSTOMERS}/{customer['id']}"
    assert stranger.post(f"{path}/shares", json={"teams": ["east"]}).status_code == 404
    assert owner.post(f"{path}/shares", json={"teams": ["east"]}).status_code == 200
    assert stranger.delete(f"{path}/shares/teams/east").status_code == 404


# ------------------------------------------------------------------------ bulk team shares

def test_a_bulk_share_with_a_team_reaches_its_members_and_below(system, org):
    """`POST /customers/bulk {action: share, teams}` shares each customer as one share
    with `teams` does (CONTRACT §4, §11); each id reports on its own."""
    team = team_path()
    owner = org.user("rep", team=f"{team}-owner")
    member = org.user("rep", team=f"{team}/east")
    below = org.user("rep", team=f"{team}/east/a")
    outsider = org.user("rep", team=f"{team}/west")
    ids = [new_customer(owner)["id"] for _ in range(2)]
    not_mine = new_customer(outsider)["id"]

    reply = owner.post(f"{CUSTOMERS}/bulk", json={
        "action": "share", "ids": ids + [not_mine], "teams": [f"/{team.upper()}/East"]})
    assert reply.status_code == 200, reply
    results = reply.json["results"]
    assert [(r["id"], r["ok"]) for r in results] == [(ids[0], True), (ids[1], True),
                                                     (not_mine, False)]
    assert results[2]["code"] == "not_found"
    for customer_id in ids:
        assert owner.get(f"{CUSTOMERS}/{customer_id}").json["shared_teams"] == [
            f"{team}/east"]
    for session in (member, below):
        assert all(session.get(f"{CUSTOMERS}/{i}").status_code == 200 for i in ids)
        shared = {c["id"] for c in session.get(
            f"{CUSTOMERS}?scope=shared&per_page=100").json["items"]}
        assert set(ids) <= shared
    # what hangs on the customer is theirs to see as well (CONTRACT §10)
    for suffix in ("/attachments", "/print?format=html", "/interactions"):
        assert member.get(f"{CUSTOMERS}/{ids[0]}{suffix}").status_code == 200, suffix
        assert outsider.get(f"{CUSTOMERS}/{ids[0]}{suffix}").status_code == 404, suffix
    assert [outsider.get(f"{CUSTOMERS}/{i}").status_code for i in ids] == [404, 404]
    assert not set(ids) & {c["id"] for c in outsider.get(
        f"{CUSTOMERS}?per_page=100").json["items"]}
    assert owner.get(f"{CUSTOMERS}/{not_mine}").status_code == 404

    # users and teams together, as one share takes them
    both = owner.post(f"{CUSTOMERS}/bulk", json={
        "action": "share", "ids": ids, "user_ids": [outsider.id], "teams": [team]})
    assert [r["ok"] for r in both.json["results"]] == [True, True]
    assert all(outsider.get(f"{CUSTOMERS}/{i}").status_code == 200 for i in ids)
    assert owner.get(f"{CUSTOMERS}/{ids[0]}").json["shared_teams"] == [f"{team}/east", team]


@pytest.mark.parametrize("body, field", [
    ({"action": "share"}, "user_ids"),
    ({"action": "share", "teams": []}, "user_ids"),
    ({"action": "share", "teams": ["east//a"]}, "teams.0"),
    ({"action": "share", "teams": [""]}, "teams.0"),
    ({"action": "share", "teams": "east"}, "teams"),
    ({"action": "share", "teams": ["east"] * 51}, "teams"),
    ({"action": "return", "teams": ["east"]}, "teams"),
    ({"action": "assign", "teams": ["east"]}, "teams"),
    ({"action": "share", "teams": ["east"], "team": "east"}, "team"),
])
def test_a_bad_bulk_share_is_a_422_naming_the_field(system, org, body, field):
    owner = org.user("rep")
    customer = new_customer(owner)
    reply = owner.post(f"{CUSTOMERS}/bulk", json={"ids": [customer["id"]], **body})
    assert reply.status_code == 422, reply
    assert reply.headers["Content-Type"] == "application/problem+json"
    assert field in reply.json["errors"], reply.json
    after = owner.get(f"{CUSTOMERS}/{customer['id']}").json
    assert (after["owner_id"], after["shared_teams"]) == (owner.user["id"], [])


def test_the_bulk_body_documents_teams(system, org):
    document = org.admin.get("/api/v1/openapi.json").json
    body = document["paths"]["/api/v1/customers/bulk"]["post"]["requestBody"]
    schema = body["content"]["application/json"]["schema"]
    if "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    assert schema["properties"]["teams"]["type"] == "array"
    assert schema["properties"]["teams"]["items"]["type"] == "string"


@pytest.fixture(scope="module")
def sharers(org) -> dict:
    """Around one owner: a sharee (by user), a teammate, the owner's supervisor and
    manager, the admin, a manager of another region; and a member of each team shared."""
    team = team_path()
    return {"team": team,
            "owner": org.user("rep", team=f"{team}/sales"),
            "sharee": org.user("rep", team=f"{team}/service"),
            "team_member": org.user("rep", team=f"{team}/sales"),
            "supervisor": org.user("supervisor", team=team),
            "manager": org.user("manager", team="hq", region="east"),
            "admin": org.admin,
            "stranger": org.user("manager", team="hq-west", region="west"),
            "members": {n: org.user("rep", team=f"{team}/partners/{n}") for n in "abc"}}


# who may share a customer with a team, in one share or in bulk, and stop sharing it
# (CONTRACT §4: the customer's editors): status of one share / the bulk item's code
SHARERS = {"owner": (200, None), "sharee": (403, "forbidden"),
           "team_member": (404, "not_found"), "supervisor": (200, None),
           "manager": (200, None), "admin": (200, None), "stranger": (404, "not_found")}


@pytest.mark.parametrize("who, expected", sorted(SHARERS.items()))
def test_who_may_share_with_a_team_one_by_one_or_in_bulk(system, sharers, who, expected):
    status, code = expected
    owner, caller, members = sharers["owner"], sharers[who], sharers["members"]
    teams = {n: f"{sharers['team']}/partners/{n}" for n in members}
    customer = new_customer(owner)
    path = f"{CUSTOMERS}/{customer['id']}"
    assert owner.post(f"{path}/shares", json={"user_ids": [sharers["sharee"].id],
                                              "teams": [teams["a"]]}).status_code == 200

    one = caller.post(f"{path}/shares", json={"teams": [teams["b"]]})
    bulk = caller.post(f"{CUSTOMERS}/bulk", json={"action": "share", "ids": [customer["id"]],
                                                  "teams": [teams["c"]]})
    stop = caller.delete(f"{path}/shares/teams/{teams['a']}")
    assert (one.status_code, stop.status_code) == (status, status)
    assert bulk.status_code == 200
    [item] = bulk.json["results"]
    assert (item["ok"], item.get("code")) == (status == 200, code)
    if status == 404:
        assert customer["name"] not in one.data.decode() + stop.data.decode()

    allowed = status == 200
    assert owner.get(path).json["shared_teams"] == (
        [teams["b"], teams["c"]] if allowed else [teams["a"]])
    for name, member in members.items():
        sees = allowed if name in "bc" else not allowed
        assert member.get(path).status_code == (200 if sees else 404), name
