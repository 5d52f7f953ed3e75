from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from crmkit.errors import Conflict, Invalid

from services.customer.ownership import check_claim_limit, check_cooldown
from services.customer.reclaim import PoolRules, decide, deadlines

SHANGHAI = ZoneInfo("Asia/Shanghai")
CLAIMED_AT = datetime(2026, 10, 1, 2, 0, tzinfo=timezone.utc)  # 10:00 Shanghai, Oct 1


@dataclass
class Subject:
    owner_id: str | None = "rep1"
    status: str = "potential"
    level: str | None = "B"
    created_at: datetime = CLAIMED_AT - timedelta(days=100)
    owned_since: datetime | None = CLAIMED_AT
    last_followup_at: datetime | None = None
    last_deal_on: date | None = None
    reclaim_warned_for: date | None = None
    deleted: bool = False


def rules(**kw) -> PoolRules:
    return PoolRules.from_dict({"auto_reclaim": True, **kw})


# --- rules ------------------------------------------------------------------------------

def test_default_rules_reclaim_nothing_and_limit_nothing():
    defaults = PoolRules.from_dict({})
    assert defaults.to_dict() == {
        "auto_reclaim": False, "days_without_followup": None, "days_without_deal": None,
        "level_days": {}, "exempt_statuses": [], "warn_days_before": 0,
        "claim_limit": None, "reclaim_cooldown_days": 0}
    assert decide(defaults, Subject(), date(2030, 1, 1), SHANGHAI).action == "none"
    check_claim_limit(defaults, 10_000)
    check_cooldown(defaults, [{"user_id": "rep1", "at": CLAIMED_AT}], "rep1", CLAIMED_AT)


def test_rules_round_trip():
    data = {"auto_reclaim": True, "days_without_followup": 30, "days_without_deal": 90,
            "level_days": {"A": 60}, "exempt_statuses": ["deal"], "warn_days_before": 3,
            "claim_limit": 50, "reclaim_cooldown_days": 7}
    assert PoolRules.from_dict(data).to_dict() == data


@pytest.mark.parametrize("bad, field", [
    ({"days_without_followup": 0}, "days_without_followup"),
    ({"days_without_followup": "30"}, "days_without_followup"),
    ({"days_without_deal": True}, "days_without_deal"),
    ({"level_days": {"E": 3}}, "level_days.E"),
    ({"level_days": {"A": -1}}, "level_days.A"),
    ({"exempt_statuses": ["vip"]}, "exempt_statuses"),
    ({"warn_days_before": -1}, "warn_days_before"),
    ({"claim_limit": -1}, "claim_limit"),
    ({"auto_reclaim": "yes"}, "auto_reclaim"),
])
def test_bad_rules_name_the_field(bad, field):
    with pytest.raises(Invalid) as err:
        PoolRules.from_dict(bad)
    assert field in err.value.errors


def test_unknown_rule_fields_are_refused():
    with pytest.raises(Invalid) as err:
        PoolRules.from_dict({"days": 3})
    assert err.value.code == "unknown_field"


# --- decisions --------------------------------------------------------------------------

def test_reclaims_on_the_day_the_followup_deadline_is_reached():
    r = rules(days_without_followup=30)
    assert decide(r, Subject(), date(2026, 10, 30), SHANGHAI).action == "none"
    decision = decide(r, Subject(), date(2026, 10, 31), SHANGHAI)
    assert (decision.action, decision.reason, decision.due_on) == (
        "reclaim", "no_followup", date(2026, 10, 31))


def test_a_recent_followup_moves_the_deadline():
    r = rules(days_without_followup=30)
    followed = Subject(last_followup_at=datetime(2026, 10, 20, 1, tzinfo=timezone.utc))
    assert decide(r, followed, date(2026, 10, 31), SHANGHAI).action == "none"
    assert decide(r, followed, date(2026, 11, 19), SHANGHAI).action == "reclaim"


def test_counting_starts_when_the_current_owner_got_the_customer():
    r = rules(days_without_followup=30)
    stale = Subject(last_followup_at=CLAIMED_AT - timedelta(days=90))
    assert decide(r, stale, date(2026, 10, 15), SHANGHAI).action == "none"


def test_followup_days_use_local_dates():
    r = rules(days_without_followup=1)
    # 16:30 UTC on Oct 1 is 00:30 on Oct 2 in Shanghai: due Oct 3, not Oct 2.
    s = Subject(owned_since=datetime(2026, 10, 1, 16, 30, tzinfo=timezone.utc))
    assert decide(r, s, date(2026, 10, 2), SHANGHAI).action == "none"
    assert decide(r, s, date(2026, 10, 3), SHANGHAI).action == "reclaim"
    assert decide(r, s, date(2026, 10, 2), ZoneInfo("UTC")).action == "reclaim"


def test_level_days_override_the_general_followup_days():
    r = rules(days_without_followup=30, level_days={"A": 90})
    assert decide(r, Subject(level="A"), date(2026, 11, 15), SHANGHAI).action == "none"
    assert decide(r, Subject(level="B"), date(2026, 11, 15), SHANGHAI).action == "reclaim"
    assert decide(r, Subject(level="A"), date(2026, 12, 30), SHANGHAI).action == "reclaim"


def test_level_days_alone_apply_only_to_their_level():
    r = rules(level_days={"C": 10})
    assert decide(r, Subject(level="C"), date(2026, 10, 11), SHANGHAI).action == "reclaim"
    assert decide(r, Subject(level="B"), date(2027, 10, 11), SHANGHAI).action == "none"


def test_days_without_deal():
    r = rules(days_without_deal=60)
    assert decide(r, Subject(), date(2026, 11, 30), SHANGHAI).reason == "no_deal"
    dealt = Subject(last_deal_on=date(2026, 11, 1))
    assert decide(r, dealt, date(2026, 11, 30), SHANGHAI).action == "none"
    assert decide(r, dealt, date(2026, 12, 31), SHANGHAI).action == "reclaim"


def test_the_earlier_deadline_decides():
    r = rules(days_without_followup=30, days_without_deal=10)
    assert [reason for _, reason in deadlines(r, Subject(), SHANGHAI)] == [
        "no_deal", "no_followup"]
    assert decide(r, Subject(), date(2026, 10, 11), SHANGHAI).reason == "no_deal"


def test_exempt_statuses_are_never_reclaimed():
    r = rules(days_without_followup=1, exempt_statuses=["deal"])
    assert decide(r, Subject(status="deal"), date(2027, 1, 1), SHANGHAI).action == "none"
    assert decide(r, Subject(status="intent"), date(2027, 1, 1), SHANGHAI).action == "reclaim"


def test_auto_reclaim_switch_off_means_nothing_happens():
    r = PoolRules.from_dict({"days_without_followup": 1})
    assert decide(r, Subject(), date(2027, 1, 1), SHANGHAI).action == "none"


def test_pool_and_deleted_customers_are_left_alone():
    r = rules(days_without_followup=1)
    assert decide(r, Subject(owner_id=None), date(2027, 1, 1), SHANGHAI).action == "none"
    assert decide(r, Subject(deleted=True), date(2027, 1, 1), SHANGHAI).action == "none"


def test_warns_n_days_before_once_per_deadline():
    r = rules(days_without_followup=30, warn_days_before=3)
    assert decide(r, Subject(), date(2026, 10, 27), SHANGHAI).action == "none"
    warning = decide(r, Subject(), date(2026, 10, 28), SHANGHAI)
    assert (warning.action, warning.days_left, warning.due_on) == (
        "warn", 3, date(2026, 10, 31))
    warned = Subject(reclaim_warned_for=date(2026, 10, 31))
    assert decide(r, warned, date(2026, 10, 29), SHANGHAI).action == "none"
    # The warning does not prevent the reclaim itself.
    assert decide(r, warned, date(2026, 10, 31), SHANGHAI).action == "reclaim"


def test_a_new_deadline_is_warned_about_again():
    r = rules(days_without_followup=30, warn_days_before=3)
    s = Subject(reclaim_warned_for=date(2026, 10, 31),
                last_followup_at=datetime(2026, 10, 30, 2, tzinfo=timezone.utc))
    assert decide(r, s, date(2026, 11, 27), SHANGHAI).action == "warn"


# --- claiming ---------------------------------------------------------------------------

def test_claim_limit():
    r = PoolRules.from_dict({"claim_limit": 2})
    check_claim_limit(r, 1)
    with pytest.raises(Conflict) as err:
        check_claim_limit(r, 2)
    assert err.value.code == "claim_limit_reached"


def test_cooldown_blocks_only_the_previous_owner_and_only_for_a_while():
    r = PoolRules.from_dict({"reclaim_cooldown_days": 7})
    releases = [{"user_id": "rep1", "at": CLAIMED_AT}]
    with pytest.raises(Conflict) as err:
        check_cooldown(r, releases, "rep1", CLAIMED_AT + timedelta(days=6, hours=23))
    assert err.value.code == "claim_cooldown"
    check_cooldown(r, releases, "rep1", CLAIMED_AT + timedelta(days=7))
    check_cooldown(r, releases, "rep2", CLAIMED_AT)


def test_cooldown_counts_from_the_latest_release():
    r = PoolRules.from_dict({"reclaim_cooldown_days": 7})
    releases = [{"user_id": "rep1", "at": CLAIMED_AT},
                {"user_id": "rep2", "at": CLAIMED_AT + timedelta(days=3)},
                {"user_id": "rep1", "at": CLAIMED_AT + timedelta(days=5)}]
    with pytest.raises(Conflict):
        check_cooldown(r, releases, "rep1", CLAIMED_AT + timedelta(days=10))
