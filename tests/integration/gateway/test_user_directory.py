"""GET /users/directory: colleagues for pickers (any signed-in user), on the whole system."""
from __future__ import annotations

import uuid

DIRECTORY = "/api/v1/users/directory"


def test_a_rep_sees_active_colleagues_without_contact_data(org):
    team = f"east/dir-{uuid.uuid4().hex[:6]}/team-1"
    rep = org.user("rep", team=team, region="east")
    mate = org.user("rep", team=team, region="east")
    gone = org.user("rep", team=team, region="east")
    assert org.admin.patch(f"/api/v1/users/{gone.id}", json={"active": False}).status_code == 200
    reply = rep.get(f"{DIRECTORY}?team={team}")
    assert reply.status_code == 200, reply
    ids = {item["id"] for item in reply.json["items"]}
    assert {rep.id, mate.id} <= ids and gone.id not in ids
    entry = next(item for item in reply.json["items"] if item["id"] == mate.id)
    assert set(entry) == {"id", "username", "name", "role", "team", "region"}
    assert team in reply.json["teams"] and team.rsplit("/", 1)[0] in reply.json["teams"]
    assert "east" in reply.json["regions"]
    assert rep.get(f"{DIRECTORY}?role=boss").status_code == 422


def test_needs_a_signed_in_user_and_is_documented(system, org):
    assert system.gateway.test_client().get(DIRECTORY).status_code == 401
    spec = org.admin.get("/api/v1/openapi.json").json
    assert "get" in spec["paths"]["/api/v1/users/directory"]
