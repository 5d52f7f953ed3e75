"""The configurable pipeline (GET/PUT /pipeline). The pipeline is global, so this module
has its own system and its tests restore the default when they are done."""
from __future__ import annotations

import pytest

from crm_testing import eventually
from opp_helpers import OPPS, new_customer, open_when_known

PIPELINE = "/api/v1/pipeline"
DEFAULT = [
    {"key": "lead", "zh": "初步接触", "en": "Initial contact", "probability": 10, "order": 1},
    {"key": "needs_analysis", "zh": "需求分析", "en": "Needs analysis", "probability": 25,
     "order": 2},
    {"key": "proposal", "zh": "方案提交", "en": "Proposal", "probability": 50, "order": 3},
    {"key": "negotiation", "zh": "商务谈判", "en": "Negotiation", "probability": 75,
     "order": 4},
    {"key": "contract", "zh": "合同签订", "en": "Contract", "probability": 90, "order": 5},
]


@pytest.fixture
def restore_default(people):
    yield
    reply = people["admin"].put(PIPELINE, json={"stages": DEFAULT})
    assert reply.status_code == 200, reply


def without(key):
    return [s for s in DEFAULT if s["key"] != key]


def test_everyone_reads_the_default_pipeline(people):
    reply = people["rep1"].get(PIPELINE)
    assert reply.status_code == 200
    stages = reply.json["stages"]
    assert [(s["key"], s["probability"]) for s in stages] == [
        ("lead", 10), ("needs_analysis", 25), ("proposal", 50), ("negotiation", 75),
        ("contract", 90)]
    assert all(s["labels"]["zh"] and s["labels"]["en"] for s in stages)
    assert [(c["key"], c["probability"]) for c in reply.json["closing"]] == [
        ("won", 100), ("lost", 0)]


@pytest.mark.parametrize("who", ["rep1", "sup1", "mgr"])
def test_only_admins_edit_the_pipeline(people, who):
    reply = people[who].put(PIPELINE, json={"stages": DEFAULT})
    assert reply.status_code == 403


def test_bad_stage_definitions_are_422_with_dotted_fields(people):
    admin = people["admin"]
    reply = admin.put(PIPELINE, json={"stages": [{"key": "won", "zh": "赢", "en": "W",
                                                  "probability": 100}]})
    assert reply.status_code == 422 and "stages.0.key" in reply.json["errors"]
    reply = admin.put(PIPELINE, json={"stages": [{"key": "a", "zh": "甲", "en": "A",
                                                  "probability": 150}]})
    assert reply.status_code == 422 and "stages.0.probability" in reply.json["errors"]
    reply = admin.put(PIPELINE, json={"stages": [{"key": "a", "probability": 5}]})
    assert reply.status_code == 422
    reply = admin.put(PIPELINE, json={"stages": []})
    assert reply.status_code == 422
    reply = admin.put(PIPELINE, json={"stages": DEFAULT, "extra": 1})
    assert reply.status_code == 422 and reply.json["code"] == "unknown_field"


def test_a_stage_holding_open_opportunities_cannot_be_removed(people, restore_default):
    rep, admin = people["rep1"], people["admin"]
    opp = open_when_known(rep, new_customer(rep)["id"])
    rep.post(f"{OPPS}/{opp['id']}/stage", json={"stage": "proposal", "note": "方案"})
    refused = admin.put(PIPELINE, json={"stages": without("proposal")})
    assert refused.status_code == 409 and refused.json["code"] == "stage_in_use"
    assert refused.json["stages"] == {"proposal": 1}
    rep.post(f"{OPPS}/{opp['id']}/stage", json={"stage": "negotiation", "note": "谈判"})
    removed = admin.put(PIPELINE, json={"stages": without("proposal")})
    assert removed.status_code == 200, removed
    assert "proposal" not in [s["key"] for s in removed.json["stages"]]
    # existing opportunities keep working; the removed stage is no longer a target
    back = rep.post(f"{OPPS}/{opp['id']}/stage", json={"stage": "proposal", "note": "x"})
    assert back.status_code == 422 and "stage" in back.json["errors"]
    assert rep.post(f"{OPPS}/{opp['id']}/stage",
                    json={"stage": "contract", "note": "签约"}).status_code == 200


def test_edited_stages_labels_and_probabilities(people, restore_default):
    rep, admin = people["rep1"], people["admin"]
    customer = new_customer(rep)
    following = open_when_known(rep, customer["id"])
    manual = open_when_known(rep, customer["id"], probability=33)
    stages = [dict(s) for s in DEFAULT]
    stages[0].update(zh="初步接触", en="First contact", probability=15)
    stages.insert(2, {"key": "demo", "labels": {"zh": "产品演示", "en": "Demo"},
                      "probability": 40, "order": 3})
    for later in stages[3:]:
        later["order"] += 1
    version = admin.get(PIPELINE).json["version"]
    stale = admin.put(PIPELINE, json={"stages": stages},
                      headers={"If-Match": f'"{version - 1}"'})
    assert stale.status_code == 412
    edited = admin.put(PIPELINE, json={"stages": stages}, headers={"If-Match": f'"{version}"'})
    assert edited.status_code == 200, edited
    assert [s["key"] for s in edited.json["stages"]][:3] == ["lead", "needs_analysis", "demo"]
    assert edited.json["stages"][0]["labels"] == {"zh": "初步接触", "en": "First contact"}
    # probabilities that follow the stage take the new default; set-by-hand ones stay
    eventually(lambda: rep.get(f"{OPPS}/{following['id']}").json["probability"] == 15,
               timeout=5, message="probability follows the edited stage")
    assert rep.get(f"{OPPS}/{manual['id']}").json["probability"] == 33
    moved = rep.post(f"{OPPS}/{following['id']}/stage", json={"stage": "demo", "note": "演示"})
    assert moved.status_code == 200 and moved.json["probability"] == 40
    new_opp = open_when_known(rep, customer["id"])
    assert (new_opp["stage"], new_opp["probability"]) == ("lead", 15)
    # closed opportunities do not hold a stage: the default can come back
    rep.post(f"{OPPS}/{following['id']}/lose", json={"reason": "演示后放弃"})
