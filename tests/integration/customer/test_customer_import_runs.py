"""An import sent with `Prefer: respond-async`: 202 at once, its status and report at
its Location, seen by its starter and the admins only; a file that is no import is
refused before it is accepted."""
from __future__ import annotations

from crm_testing import eventually

from customer_helpers import CUSTOMERS, create, unique_name, upload, xlsx_bytes

ASYNC = {"Prefer": "respond-async"}


def finished(session, location):
    def probe():
        run = session.get(location).json
        return run if run["state"] in ("done", "failed") else None
    return eventually(probe, message="the import run finished")


def test_an_import_run_answers_202_and_its_location_gives_progress_then_the_report(corg):
    rep = corg.user("rep")
    existing = create(rep)
    good = [unique_name() for _ in range(3)]
    rows = [["客户名称", "行业", "状态", "联系人", "联系电话"]]
    rows += [[name, "软件", "潜在客户", "张三", "13812345678"] for name in good]
    rows += [[existing["name"], "软件", "潜在客户", "王五", "13900001111"],
             [unique_name(), "软件", "潜在客户", "李四", "12345"]]
    reply = upload(rep, xlsx_bytes(rows), "customers.xlsx", headers=ASYNC)
    assert reply.status_code == 202, reply
    assert reply.headers["Preference-Applied"] == "respond-async"
    location = reply.headers["Location"]
    accepted = reply.json
    assert location == f"{CUSTOMERS}/imports/{accepted['id']}"
    assert accepted["state"] in ("queued", "running")
    assert (accepted["kind"], accepted["filename"], accepted["in_pool"]) == (
        "customer_import", "customers.xlsx", False)
    run = finished(rep, location)
    assert run["state"] == "done" and run["error"] is None, run
    assert run["phase"] is None and run["finished_at"]
    report = run["result"]
    assert report["created"] == 3 and len(report["numbers"]) == 3
    assert [d["row"] for d in report["duplicates"]] == [5]
    assert report["duplicates"][0]["matches"][0]["id"] == existing["id"]
    assert {(e["row"], e["field"]) for e in report["errors"]} == {
        (6, "primary_contact.phone")}
    assert (report["duplicates_total"], report["errors_total"]) == (1, 1)
    mine = {c["name"] for c in rep.get(f"{CUSTOMERS}?scope=mine&per_page=100").json["items"]}
    assert set(good) <= mine
    listed = rep.get(f"{CUSTOMERS}/imports").json["items"]
    assert listed[0]["id"] == accepted["id"]


def test_only_the_starter_and_admins_see_an_import_run(corg):
    rep, other = corg.user("rep"), corg.user("rep")
    rows = [["客户名称"], [unique_name()]]
    location = upload(rep, xlsx_bytes(rows), "a.xlsx", headers=ASYNC).headers["Location"]
    finished(rep, location)
    hidden = other.get(location)
    assert hidden.status_code == 404 and hidden.json["code"] == "not_found"
    assert other.get(f"{CUSTOMERS}/imports").json["items"] == []
    assert corg.admin.get(location).json["owner_id"] == rep.id
    assert other.get(f"{CUSTOMERS}/imports/no-such-run").status_code == 404


def test_a_file_that_is_no_import_is_refused_before_it_is_accepted(corg):
    rep = corg.user("rep")
    no_name = upload(rep, b"industry,status\nIT,potential\n", "x.csv", headers=ASYNC)
    assert no_name.status_code == 422 and "file" in no_name.json["errors"]
    broken = upload(rep, b"PK\x03\x04garbage", "x.xlsx", headers=ASYNC)
    assert broken.status_code == 422
    assert rep.get(f"{CUSTOMERS}/imports").json["items"] == []
