"""A service's copy of the organisation's settings (crmkit.settings.OrgSettings) on the
database server: defaults until the first `settings.updated`, each event applied once,
and an older event arriving late never overwrites a newer one."""
from __future__ import annotations

from crm_testing import fresh_database
from crmkit.settings import OrgSettings
from event_data import envelope


def updated(version: int, industry: list[str], *, see: bool = True) -> dict:
    return envelope("settings.updated", {
        "superiors_see_subordinates": see, "version": version,
        "dictionary": {"industry": industry, "source": [], "tags": {"规模": ["大客户"]},
                       "relation": [], "loss_reason": [], "task_type": []}},
        aggregate_id="settings", region=None)


def test_defaults_until_the_first_event():
    current = OrgSettings(fresh_database("orgset")).current()
    assert current.superiors_see_subordinates is True and current.version == 0
    assert current.choices("industry") is None


def test_the_newest_settings_win_whatever_the_order_and_duplicates():
    copy = OrgSettings(fresh_database("orgset"))
    second, first = updated(2, ["金融"], see=False), updated(1, ["制造业"])
    assert copy.apply(second)
    assert not copy.apply(first)          # older news, late
    assert not copy.apply(second)         # a redelivery
    current = copy.current()
    assert current.version == 2 and current.superiors_see_subordinates is False
    assert current.choices("industry") == ["金融"]
    assert current.choices("tags") == ["大客户"]
    assert copy.apply(updated(3, []))
    assert copy.current().choices("industry") is None     # an emptied list: free text
