"""Attachments on customers and follow-ups through the gateway (CONTRACT §10): each kind
by content, hostile names and types, size, who sees, downloads and deletes them, kept in
the customer service's own GridFS."""
from __future__ import annotations

import uuid
from urllib.parse import unquote

import pytest

import sample_files as files
from customer_helpers import cast, create, multipart, url
from sample_files import assert_hidden, attach, every_call

FULL, HIDDEN, POOL = "full", 404, 403


@pytest.fixture(scope="module")
def people(corg):
    return cast(corg)


@pytest.fixture(scope="module")
def owned(people):
    customer = create(people["owner"])
    reply = people["owner"].post(url(customer, "/shares"),
                                 json={"user_ids": [people["sharee"].id]})
    assert reply.status_code == 200, reply
    return customer


@pytest.mark.parametrize("content, name, content_type", [
    (files.PDF, "合同扫描件.pdf", "application/pdf"),
    (files.DOC, "方案.doc", "application/msword"),
    (files.DOCX, "方案.docx", "application/vnd.openxmlformats-officedocument."
                              "wordprocessingml.document"),
    (files.XLS, "报价.xls", "application/vnd.ms-excel"),
    (files.xlsx(), "报价.xlsx", "application/vnd.openxmlformats-officedocument."
                               "spreadsheetml.sheet"),
    (files.PNG, "现场.png", "image/png"),
    (files.JPEG, "名片.jpg", "image/jpeg"),
])
def test_each_kind_uploads_lists_and_downloads_as_sent(people, owned, content, name,
                                                       content_type):
    owner = people["owner"]
    reply = attach(owner, url(owned), content, name)
    assert reply.status_code == 201, reply
    item = reply.json
    assert set(item) == {"id", "filename", "content_type", "size", "uploaded_by",
                         "uploaded_at"}
    assert item["filename"] == name and item["content_type"] == content_type
    assert item["size"] == len(content) and item["uploaded_by"] == owner.id
    assert "+00:00" in item["uploaded_at"] or item["uploaded_at"].endswith("Z")
    listed = owner.get(url(owned, "/attachments"))
    assert listed.status_code == 200 and item in listed.json["items"]
    got = owner.get(url(owned, f"/attachments/{item['id']}"))
    assert got.status_code == 200 and got.data == content
    assert got.headers["Content-Type"] == content_type
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    disposition = got.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == name


def test_the_content_decides_not_the_name_or_declared_type(people, owned):
    owner = people["owner"]
    html = attach(owner, url(owned), files.HTML, "invoice.pdf")
    assert html.status_code == 422 and html.json["code"] == "unsupported_file"
    assert list(html.json["errors"]) == ["file"]
    assert html.headers["Content-Type"].startswith("application/problem+json")
    png = attach(owner, url(owned), files.PNG, "page.html")
    assert png.status_code == 201 and png.json["filename"] == "page.html.png"
    assert png.json["content_type"] == "image/png"


@pytest.mark.parametrize("name, kept", [
    ("../../etc/passwd.pdf", "passwd.pdf"),
    # a quoted multipart filename escapes its backslashes: C:\Users\x\报价.pdf
    ("C:\\\\Users\\\\x\\\\报价.pdf", "报价.pdf"),
    ("bill\u202efdp.exe", "billfdp.exe.pdf"),
    ("a\x07b\x1b.pdf", "ab.pdf"),
])
def test_hostile_names_are_cleaned(people, owned, name, kept):
    reply = attach(people["owner"], url(owned), files.PDF, name)
    assert reply.status_code == 201, reply
    assert reply.json["filename"] == kept


def test_a_name_with_nothing_left_or_no_file_is_422_naming_file(people, owned):
    owner = people["owner"]
    for name in ("../", "\u202e\u200b"):
        reply = attach(owner, url(owned), files.PDF, name)
        assert reply.status_code == 422 and list(reply.json["errors"]) == ["file"], name
    body, content_type = multipart({"other": "x"}, {})
    missing = owner.request("POST", url(owned, "/attachments"), data=body,
                            content_type=content_type)
    assert missing.status_code == 422 and list(missing.json["errors"]) == ["file"]
    as_json = owner.post(url(owned, "/attachments"), json={"file": "x"})
    assert as_json.status_code == 422 and list(as_json.json["errors"]) == ["file"]
    assert not [i for i in owner.get(url(owned, "/attachments")).json["items"]
                if i["filename"] in ("", ".pdf")]


def test_over_ten_megabytes_is_413_and_nothing_is_kept(people):
    owner = people["owner"]
    customer = create(owner)
    exactly = files.PDF + b"0" * (10 * 1024 * 1024 - len(files.PDF))
    assert attach(owner, url(customer), exactly, "big.pdf").status_code == 201
    over = attach(owner, url(customer), exactly + b"0", "bigger.pdf")
    assert over.status_code == 413 and over.json["code"] == "payload_too_large"
    # far over: the gateway's own body limit (20 MB) answers before any service
    huge = attach(owner, url(customer), exactly * 2 + b"0", "huge.pdf")
    assert huge.status_code == 413
    assert huge.headers["Content-Type"].startswith("application/problem+json")
    listed = owner.get(url(customer, "/attachments")).json
    assert [i["filename"] for i in listed["items"]] == ["big.pdf"]


def test_idempotency_key_uploads_once(people):
    owner = people["owner"]
    customer = create(owner)
    key = uuid.uuid4().hex
    first = attach(owner, url(customer), files.PNG, "a.png", **{"Idempotency-Key": key})
    again = attach(owner, url(customer), files.PNG, "a.png", **{"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert owner.get(url(customer, "/attachments")).json["total"] == 1


EXPECTED = {"owner": FULL, "sharee": FULL, "supervisor": FULL, "manager": FULL,
            "admin": FULL, "teammate": HIDDEN, "other_supervisor": HIDDEN,
            "other_manager": HIDDEN}


@pytest.fixture(scope="module")
def owned_followup(people, owned):
    return interaction_of(people["owner"], owned)


@pytest.mark.parametrize("parent", ["customer", "interaction"])
@pytest.mark.parametrize("who, expected", sorted(EXPECTED.items()))
def test_seen_exactly_by_whoever_sees_the_customer(people, owned, owned_followup, parent,
                                                   who, expected):
    """The customer's attachments and its follow-ups' alike."""
    path = url(owned) if parent == "customer" else url(
        owned, f"/interactions/{owned_followup['id']}")
    item, listed, one, upload, delete = every_call(
        people["owner"], people[who], path, (files.PDF, "可见性.pdf"),
        (files.PNG, f"{who}.png"))
    if expected == HIDDEN:
        assert_hidden(listed, one, upload, delete, "可见性")
        return
    assert listed.status_code == 200 and item in listed.json["items"]
    assert one.status_code == 200 and one.data == files.PDF
    assert upload.status_code == 201, upload
    # the customer's editors delete any; a sharee only their own uploads
    assert delete.status_code == (403 if who == "sharee" else 204), delete


def test_who_may_delete(people, owned):
    owner, sharee, supervisor = people["owner"], people["sharee"], people["supervisor"]
    by_owner = attach(owner, url(owned), files.PDF, "owner.pdf").json
    by_sharee = attach(sharee, url(owned), files.PNG, "sharee.png").json
    # a sharee may not edit the customer: only their own uploads
    refused = sharee.delete(url(owned, f"/attachments/{by_owner['id']}"))
    assert refused.status_code == 403 and refused.json["code"] == "forbidden"
    assert sharee.delete(url(owned, f"/attachments/{by_sharee['id']}")).status_code == 204
    # editors (the owner's supervisor) may delete anyone's
    assert supervisor.delete(url(owned, f"/attachments/{by_owner['id']}")).status_code == 204
    assert owner.get(url(owned, f"/attachments/{by_owner['id']}")).status_code == 404
    assert owner.delete(url(owned, f"/attachments/{by_owner['id']}")).status_code == 404
    ids = {i["id"] for i in owner.get(url(owned, "/attachments")).json["items"]}
    assert not ids & {by_owner["id"], by_sharee["id"]}


def test_a_pool_customer_shows_its_public_view_only(people):
    owner, teammate, admin = people["owner"], people["teammate"], people["admin"]
    pooled = create(owner, in_pool=True)
    assert attach(admin, url(pooled), files.PDF).status_code == 201
    assert teammate.get(url(pooled, "/attachments")).status_code == POOL
    assert attach(teammate, url(pooled), files.PDF).status_code == POOL


def test_an_attachment_belongs_to_its_own_parent(people, owned):
    owner = people["owner"]
    other = create(owner)
    item = attach(owner, url(owned), files.PDF).json
    assert owner.get(url(other, f"/attachments/{item['id']}")).status_code == 404
    assert owner.delete(url(other, f"/attachments/{item['id']}")).status_code == 404
    assert owner.get(url("CRM000000000000", "/attachments")).status_code == 404


def interaction_of(session, customer) -> dict:
    reply = session.post(url(customer, "/interactions"), json={
        "occurred_at": "2026-11-20T10:00:00+08:00", "method": "visit", "subject": "拜访",
        "content": "带去了报价单"})
    assert reply.status_code == 201, reply
    return reply.json


def test_follow_ups_carry_their_own_attachments(people, owned):
    owner, sharee, teammate = people["owner"], people["sharee"], people["teammate"]
    interaction = interaction_of(sharee, owned)
    path = url(owned, f"/interactions/{interaction['id']}")
    item = attach(sharee, path, files.XLS, "报价.xls")
    assert item.status_code == 201, item
    assert item.json["content_type"] == "application/vnd.ms-excel"
    assert [i["id"] for i in owner.get(f"{path}/attachments").json["items"]] == [
        item.json["id"]]
    # not the customer's own list, nor another follow-up's
    assert item.json["id"] not in {i["id"] for i in
                                   owner.get(url(owned, "/attachments")).json["items"]}
    other = interaction_of(owner, owned)
    assert owner.get(url(owned, f"/interactions/{other['id']}/attachments/"
                                f"{item.json['id']}")).status_code == 404
    assert owner.get(url(owned, "/interactions/nope/attachments")).status_code == 404
    assert teammate.get(f"{path}/attachments").status_code == 404
    got = owner.get(f"{path}/attachments/{item.json['id']}")
    assert got.status_code == 200 and got.data == files.XLS
    disguised = attach(sharee, path, files.HTML, "纪要.docx")
    assert disguised.status_code == 422 and list(disguised.json["errors"]) == ["file"]


def test_stored_in_the_customer_services_gridfs(csys, people):
    owner = people["owner"]
    customer = create(owner)
    item = attach(owner, url(customer), files.PNG, "g.png").json
    runtime_db = _customer_db(csys)
    stored = runtime_db["attachments.files"].find_one({"_id": item["id"]})
    assert stored["metadata"]["parent"] == "customer"
    assert stored["metadata"]["parent_id"] == customer["id"]
    assert runtime_db["attachments.chunks"].count_documents({"files_id": item["id"]}) == 1


def _customer_db(csys):
    from crmkit.mongo import get_database

    settings = csys.settings
    return get_database(settings.mongo_url, settings.database_name("customer"))
