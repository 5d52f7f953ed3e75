"""Attachments on tasks through the gateway (CONTRACT §10; seed 001's photos of a visit):
whoever may see the task (assignee, creator, their superiors, admins) adds, reads and
deletes them (a task has no sharees: its assignee stands in for one); anyone else gets
404; kept in the tasks service's own GridFS."""
from __future__ import annotations

import pytest

import sample_files as files
from sample_files import assert_hidden, attach, every_call
from tasks_helpers import TEAM1, TEAM2, known_to_tasks, later

API = "/api/v1"


@pytest.fixture(scope="module")
def people(org, settings):
    # rep1 gives the task to `assignee` (a teammate); rep2 is a teammate without it
    cast = {"rep1": org.user("rep", TEAM1), "rep2": org.user("rep", TEAM1),
            "assignee": org.user("rep", TEAM1),
            "rep3": org.user("rep", TEAM2), "sup1": org.user("supervisor", "east/shanghai"),
            "mgr": org.user("manager", "east", "east"),
            "rep_w": org.user("rep", "west/chengdu/team-1", "west"),
            "sup_w": org.user("supervisor", "west/chengdu", "west"),
            "mgr_w": org.user("manager", "west", "west"), "admin": org.admin}
    known_to_tasks(settings, *[s for k, s in cast.items() if k != "admin"])
    return cast


@pytest.fixture(scope="module")
def task(people):
    reply = people["rep1"].post(f"{API}/tasks", json={
        "title": "拜访客户并拍照", "type": "visit", "due_at": later(days=2),
        "assignee_id": people["assignee"].id})
    assert reply.status_code == 201, reply
    return reply.json


def path(task) -> str:
    return f"{API}/tasks/{task['id']}"


EXPECTED = {"rep1": 200, "assignee": 200, "sup1": 200, "mgr": 200, "admin": 200,
            "rep2": 404, "rep3": 404, "rep_w": 404, "sup_w": 404, "mgr_w": 404}


@pytest.mark.parametrize("who, expected", sorted(EXPECTED.items()))
def test_each_role(people, task, who, expected):
    item, listed, one, upload, delete = every_call(
        people["rep1"], people[who], path(task), (files.JPEG, "现场照片.jpg"),
        (files.PNG, "门头.png"))
    if expected == 404:
        assert_hidden(listed, one, upload, delete, "现场照片")
        return
    assert listed.status_code == 200 and item in listed.json["items"]
    assert one.status_code == 200 and one.data == files.JPEG
    assert one.headers["Content-Type"] == "image/jpeg"
    assert upload.status_code == 201 and delete.status_code == 204


def test_type_size_and_name_are_checked(people, task):
    owner = people["rep1"]
    refused = attach(owner, path(task), b"GIF89a....", "photo.jpg")
    assert refused.status_code == 422 and refused.json["code"] == "unsupported_file"
    too_big = attach(owner, path(task), files.JPEG + b"\0" * (10 * 1024 * 1024), "big.jpg")
    assert too_big.status_code == 413
    empty_name = attach(owner, path(task), files.JPEG, "\x01\x02")
    assert empty_name.status_code == 422 and list(empty_name.json["errors"]) == ["file"]
    assert owner.get(f"{API}/tasks/nope/attachments").status_code == 404
