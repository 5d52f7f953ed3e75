"""The stage pipeline: defaults, admin edits and what edits may not do."""
import pytest

from crmkit.errors import Conflict, Invalid
from services.opportunity.pipeline import Pipeline, Stage


def edited_default(stages, open_counts):
    """The default pipeline after an admin's edit."""
    pipeline = Pipeline.default()
    pipeline.edit(stages, open_counts)
    return pipeline


def stage(key, probability, order=None, zh="阶段", en="Stage"):
    item = {"key": key, "labels": {"zh": zh, "en": en}, "probability": probability}
    if order is not None:
        item["order"] = order
    return item


def test_default_pipeline_runs_lead_to_contract_with_contract_probabilities():
    pipeline = Pipeline.default()
    assert [(s.key, s.probability) for s in pipeline.stages] == [
        ("lead", 10), ("needs_analysis", 25), ("proposal", 50), ("negotiation", 75),
        ("contract", 90)]
    assert pipeline.first.key == "lead"


def test_won_and_lost_close_the_pipeline_but_are_not_stages():
    doc = Pipeline.default().to_dict()
    assert [c["key"] for c in doc["closing"]] == ["won", "lost"]
    assert [c["probability"] for c in doc["closing"]] == [100, 0]
    assert "won" not in Pipeline.default().keys


def test_every_stage_has_chinese_and_english_labels():
    for item in Pipeline.default().to_dict()["stages"]:
        assert item["labels"]["zh"] and item["labels"]["en"]


def test_stage_change_to_a_closing_outcome_is_refused():
    with pytest.raises(Invalid) as err:
        Pipeline.default().require_stage("won")
    assert err.value.code == "closing_stage"


def test_unknown_stage_is_a_validation_error_on_stage():
    with pytest.raises(Invalid) as err:
        Pipeline.default().require_stage("dreaming")
    assert "stage" in err.value.errors


def test_edit_orders_stages_by_order_and_renumbers_them():
    edited = edited_default(
        [stage("b", 60, order=20), stage("a", 20, order=10)], open_counts={})
    assert [(s.key, s.order) for s in edited.stages] == [("a", 1), ("b", 2)]
    assert edited.first.key == "a"
    assert edited.version == 2


def test_edit_without_order_keeps_list_position():
    edited = edited_default([stage("x", 5), stage("y", 80)], open_counts={})
    assert edited.keys == ["x", "y"]


def test_removing_a_stage_with_open_opportunities_is_a_conflict():
    kept = [s for s in Pipeline.default().stages if s.key != "proposal"]
    with pytest.raises(Conflict) as err:
        edited_default(kept, open_counts={"proposal": 3, "lead": 1})
    assert err.value.code == "stage_in_use"
    assert err.value.extra["stages"] == {"proposal": 3}


def test_removing_an_empty_stage_is_allowed():
    kept = [s for s in Pipeline.default().stages if s.key != "proposal"]
    edited = edited_default(kept, open_counts={"proposal": 0, "lead": 2})
    assert "proposal" not in edited.keys


def test_relabelling_and_reprobabilising_a_stage_in_use_is_allowed():
    items = [s.to_dict() for s in Pipeline.default().stages]
    items[0]["labels"] = {"zh": "初步接触", "en": "First contact"}
    items[0]["probability"] = 15
    edited = edited_default(items, open_counts={"lead": 5})
    assert edited.stage("lead").label_zh == "初步接触"
    assert edited.probability_of("lead") == 15


@pytest.mark.parametrize("items, field", [
    ([stage("won", 50)], "stages.0.key"),
    ([stage("Bad Key", 50)], "stages.0.key"),
    ([stage("a", 50), stage("a", 60)], "stages.1.key"),
    ([stage("a", 101)], "stages.0.probability"),
    ([stage("a", -1)], "stages.0.probability"),
    ([stage("a", 50, zh="")], "stages.0.labels.zh"),
    ([stage("a", 50, en=" ")], "stages.0.labels.en"),
    ([stage("a", 10, order=1), stage("b", 20, order=1)], "stages.1.order"),
])
def test_bad_stage_definitions_name_the_field(items, field):
    with pytest.raises(Invalid) as err:
        edited_default(items, open_counts={})
    assert field in err.value.errors


def test_an_empty_pipeline_is_refused():
    with pytest.raises(Invalid) as err:
        edited_default([], open_counts={})
    assert "stages" in err.value.errors


def test_pipeline_round_trips_through_its_document():
    original = edited_default([stage("x", 5), stage("y", 80)], open_counts={})
    assert Pipeline.from_dict(original.to_dict()) == original


def test_stages_given_as_stage_objects_are_accepted():
    edited = edited_default([Stage("z", "甲", "Z", 30, 1)], open_counts={})
    assert edited.keys == ["z"]


def test_flat_zh_en_labels_are_accepted_as_well():
    edited = edited_default(
        [{"key": "lead", "zh": "线索获取", "en": "Lead", "probability": 10, "order": 1}],
        open_counts={})
    assert (edited.first.label_zh, edited.first.label_en) == ("线索获取", "Lead")
    assert edited.to_dict()["stages"][0]["zh"] == "线索获取"
