"""The organisation's settings (参数设置, CONTRACT §11): the gateway's aggregate (an admin's
edit, its checks, its event) and the dictionary rule every service applies."""
from __future__ import annotations

import pytest

from crmkit.errors import Invalid
from crmkit.settings import OrgParameters
from gateway.identity.settings import OrgSettingsRecord, dictionary_problems


def test_the_defaults_share_by_rank_and_restrict_nothing():
    params = OrgParameters()
    assert params.superiors_see_subordinates is True and params.version == 0
    assert params.choices("industry") is None and params.choices("tags") is None
    assert params.problems({"industry": ("industry", "anything")}) == {}


def test_an_edit_raises_the_version_and_records_the_whole_settings():
    record = OrgSettingsRecord()
    record.edit({"superiors_see_subordinates": False,
                 "dictionary": {"industry": [" 制造业 ", "金融"], "tags": {"规模": ["大客户"]}}})
    assert record.version == 1
    [event] = record.events
    assert event.type == "settings.updated"
    assert event.data == {
        "superiors_see_subordinates": False, "version": 1,
        "dictionary": {"industry": ["制造业", "金融"], "source": [], "relation": [],
                       "loss_reason": [], "task_type": [], "tags": {"规模": ["大客户"]}}}


def test_what_an_edit_leaves_out_takes_its_default():
    record = OrgSettingsRecord()
    record.edit({"superiors_see_subordinates": False, "dictionary": {"source": ["展会"]}})
    record.edit({"dictionary": {"industry": ["金融"]}})
    assert record.parameters.superiors_see_subordinates is True
    assert record.parameters.dictionary["source"] == []


@pytest.mark.parametrize("dictionary, field", [
    ({"industry": ["金融", "金融"]}, "dictionary.industry"),
    ({"source": [""]}, "dictionary.source"),
    ({"relation": ["   "]}, "dictionary.relation"),
    ({"loss_reason": ["x" * 61]}, "dictionary.loss_reason"),
    ({"industry": [str(i) for i in range(201)]}, "dictionary.industry"),
    ({"tags": {"规模": ["大", "大"]}}, "dictionary.tags.规模"),
    ({"tags": {" ": ["大"]}}, "dictionary.tags"),
    ({"task_type": ["拜访"]}, "dictionary.task_type"),
])
def test_a_bad_dictionary_names_the_field(dictionary, field):
    assert field in dictionary_problems(dictionary)
    record = OrgSettingsRecord()
    with pytest.raises(Invalid) as caught:
        record.edit({"dictionary": dictionary})
    assert field in caught.value.errors
    assert record.version == 0 and not record.events      # nothing half-done


def test_task_types_are_chosen_among_the_contracts_kinds():
    assert dictionary_problems({"task_type": ["visit", "call"]}) == {}


class TestDictionaryRule:
    params = OrgParameters.from_dict({"dictionary": {
        "industry": ["制造业"], "tags": {"规模": ["大客户"], "阶段": ["重点"]},
        "loss_reason": ["价格"]}, "version": 3})

    def test_a_listed_value_passes(self):
        assert self.params.problems({"industry": ("industry", "制造业"),
                                     "tags": ("tags", ["大客户", "重点"])}) == {}

    def test_an_unlisted_value_names_the_field(self):
        errors = self.params.problems({"industry": ("industry", "农业"),
                                       "tags": ("tags", ["重点", "随便"])})
        assert set(errors) == {"industry", "tags"}
        assert "农业" in errors["industry"][0] and "随便" in errors["tags"][0]

    def test_an_empty_list_is_free_text(self):
        assert self.params.problems({"source": ("source", "任意")}) == {}

    def test_empty_values_are_left_to_the_fields_own_rules(self):
        assert self.params.problems({"industry": ("industry", None),
                                     "tags": ("tags", [])}) == {}

    def test_require_choices_is_a_422_not_in_dictionary(self):
        with pytest.raises(Invalid) as caught:
            self.params.require_choices({"reason": ("loss_reason", "天气")})
        assert caught.value.code == "not_in_dictionary" and "reason" in caught.value.errors
