"""Attachments on opportunities through the gateway (CONTRACT §10): quotes and draft
contracts, seen by whoever may read the opportunity, added and deleted by whoever may
change it (sharees read only), kept in the opportunity service's own GridFS."""
from __future__ import annotations

import pytest

import sample_files as files
from crm_testing import eventually
from opp_helpers import OPPS, new_customer, open_when_known
from sample_files import assert_hidden, attach, every_call


@pytest.fixture(scope="module")
def opp(people):
    owner = people["rep1"]
    customer = new_customer(owner)
    assert owner.post(f"/api/v1/customers/{customer['id']}/shares",
                      json={"user_ids": [people["rep3"].id]}).status_code == 200
    opp = open_when_known(owner, customer["id"])
    eventually(lambda: people["rep3"].get(f"{OPPS}/{opp['id']}").status_code == 200,
               timeout=15, message="the sharee reads the opportunity")
    return opp


def path(opp) -> str:
    return f"{OPPS}/{opp['id']}"


# rep3 holds a share of the customer (reads only); sup2/mgr_w/sup_w see nothing of it
EXPECTED = {"rep1": "edit", "sup1": "edit", "mgr": "edit", "admin": "edit", "rep3": "read",
            "rep2": 404, "sup2": 404, "mgr_w": 404, "sup_w": 404}


@pytest.mark.parametrize("who, expected", sorted(EXPECTED.items()))
def test_each_role(people, opp, who, expected):
    owner = people["rep1"]
    item, listed, one, upload, delete = every_call(
        owner, people[who], path(opp), (files.DOCX, "报价单.docx"), (files.PDF, "草拟合同.pdf"))
    if expected == 404:
        assert_hidden(listed, one, upload, delete, "报价单")
        return
    assert listed.status_code == 200 and item in listed.json["items"]
    assert one.status_code == 200 and one.data == files.DOCX
    assert one.headers["X-Content-Type-Options"] == "nosniff"
    if expected == "read":
        assert upload.status_code == 403 and delete.status_code == 403
    else:
        assert upload.status_code == 201 and delete.status_code == 204
        assert owner.get(f"{path(opp)}/attachments/{item['id']}").status_code == 404


def test_type_and_name_are_checked(people, opp):
    owner = people["rep1"]
    refused = attach(owner, path(opp), files.HTML, "quote.docx")
    assert refused.status_code == 422 and refused.json["code"] == "unsupported_file"
    assert list(refused.json["errors"]) == ["file"]
    cleaned = attach(owner, path(opp), files.XLS, "../报价\u202e.xls")
    assert cleaned.status_code == 201 and cleaned.json["filename"] == "报价.xls"
    assert owner.get(f"{OPPS}/no-such-opportunity/attachments").status_code == 404
