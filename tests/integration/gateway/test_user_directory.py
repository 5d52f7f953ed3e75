"""GET /users/directory: colleagues for pickers (any signed-in user), on the whole system."""
from __future__ import annotations

import uuid

import pytest

from crm_testing import Org, flask_transport, integration_settings, running_system

DIRECTORY = "/api/v1/users/directory"


@pytest.fixture(scope="module")
def dsys(amqp_url):
    with running_system(integration_settings(amqp_url)) as running:
        yield running


@pytest.fixture(scope="module")
def dorg(dsys):
    return Org(flask_transport(dsys.gateway.test_client()))


def test_a_rep_sees_active_colleagues_without_contact_data(dorg):
    team = f"east/dir-{uuid.uuid4().hex[:6]}/team-1"
    rep = dorg.user("rep", team=team, region="east")
    mate = dorg.user("rep", team=team, region="east")
    gone = dorg.user("rep", team=team, region="east")
    assert dorg.admin.patch(f"/api/v1/users/{gone.id}", json={"active": False}).status_code == 200
    reply = rep.get(f"{DIRECTORY}?team={team}")
    assert reply.status_code == 200, reply
    ids = {item["id"] for item in reply.json["items"]}
    assert {rep.id, mate.id} <= ids and gone.id not in ids
    entry = next(item for item in reply.json["items"] if item["id"] == mate.id)
    assert set(entry) == {"id", "username", "name", "role", "team", "region"}
    assert team in reply.json["teams"] and team.rsplit("/", 1)[0] in reply.json["teams"]
    assert "east" in reply.json["regions"]
    assert rep.get(f"{DIRECTORY}?role=boss").status_code == 422


def test_needs_a_signed_in_user_and_is_documented(dsys, dorg):
    assert dsys.gateway.test_client().get(DIRECTORY).status_code == 401
    spec = dorg.admin.get("/api/v1/openapi.json").json
    assert "get" in spec["paths"]["/api/v1/users/directory"]
