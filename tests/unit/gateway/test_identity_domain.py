"""The User aggregate: validation, password rules, sessions, admin edits, events."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from crmkit.errors import Conflict, Forbidden, Invalid, Unauthorized
from crmkit.identity import Identity
from gateway.identity.domain import authenticate, would_leave_no_admin
from gateway.identity.fields import check_password_policy, password_problems, username_key

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)  # the clock of make_user


# ------------------------------------------------------------------ creation

def test_an_admin_created_user_must_change_the_initial_password(make_user):
    user = make_user()
    assert user.must_change_password is True
    assert user.active is True
    assert user.session_version == 0
    assert user.version == 0
    assert user.created_at == user.updated_at == NOW


def test_create_stores_a_hash_never_the_password(make_user, hasher):
    user = make_user(password="Initial#2026")
    assert user.password_hash != "Initial#2026"
    assert hasher.verify(user.password_hash, "Initial#2026")


def test_timezone_defaults_to_the_organisation_zone(make_user, monkeypatch):
    monkeypatch.setenv("CRM_TIMEZONE", "Europe/Berlin")
    assert make_user().timezone == "Europe/Berlin"
    monkeypatch.delenv("CRM_TIMEZONE")
    assert make_user().timezone == "Asia/Shanghai"


def test_team_and_region_are_normalised_to_lower_case_paths(make_user):
    user = make_user(team=" /East/Shanghai/Team-1/ ", region="EAST")
    assert user.team == "east/shanghai/team-1"
    assert user.region == "east"


def test_a_chinese_team_segment_is_a_valid_path(make_user):
    assert make_user(team="华东/上海/一组").team == "华东/上海/一组"


@pytest.mark.parametrize("field, value", [
    ("username", ""), ("username", "a"), ("username", "has space"), ("username", None),
    ("name", ""), ("name", "   "), ("name", "x" * 101), ("name", 42),
    ("role", "owner"), ("role", "Admin"), ("role", None),
    ("team", ""), ("team", "east//team-1"), ("team", "east/team 1"), ("team", "/"),
    ("region", ""), ("region", "east region"), ("region", "x" * 33),
    ("timezone", "Mars/Olympus"), ("timezone", ""), ("timezone", 8),
    ("email", "not-an-email"), ("email", "a@b"),
])
def test_create_refuses_a_bad_field_naming_it(make_user, field, value):
    with pytest.raises(Invalid) as caught:
        make_user(**{field: value})
    assert field in caught.value.errors
    assert caught.value.status == 422


def test_create_reports_every_bad_field_at_once(make_user):
    with pytest.raises(Invalid) as caught:
        make_user(role="boss", region="", password="short")
    assert set(caught.value.errors) == {"role", "region", "password"}


def test_email_is_optional_and_blank_means_none(make_user):
    assert make_user(email="").email is None
    assert make_user(email=" li@example.com ").email == "li@example.com"


def test_create_records_user_created_without_any_password(make_user):
    user = make_user(email="zs@example.com")
    [event] = user.events
    assert event.type == "user.created"
    assert event.aggregate_id == user.id
    assert event.region == "east"
    assert event.data == {"id": user.id, "username": "zhang.san", "name": "张三",
                          "role": "rep", "team": "east/shanghai/team-1", "region": "east",
                          "timezone": "Asia/Shanghai", "email": "zs@example.com",
                          "active": True, "version": 0}
    text = json.dumps(event.data, ensure_ascii=False)
    assert "password" not in text and user.password_hash not in text


def test_to_identity_carries_role_team_region_and_timezone(make_user):
    user = make_user(role="supervisor", timezone="Europe/London")
    assert user.to_identity() == Identity(
        user_id=user.id, username="zhang.san", name="张三", role="supervisor",
        team="east/shanghai/team-1", region="east", timezone="Europe/London")


def test_usernames_compare_without_case():
    assert username_key(" Zhang.San ") == username_key("zhang.san")


# ------------------------------------------------------------------ password policy

def test_password_shorter_than_eight_is_refused_in_chinese_and_english():
    [message] = password_problems("Ab1#xyz", "li.si")
    assert "8" in message and "密码" in message and "password" in message


def test_password_of_exactly_eight_characters_is_fine():
    assert password_problems("Ab1#xyzw", "li.si") == []


def test_password_equal_to_the_username_is_refused_ignoring_case():
    problems = password_problems("Zhang.San2026", "zhang.san2026")
    assert problems and "用户名" in problems[0]


def test_overlong_password_is_refused():
    assert password_problems("x" * 129, "li.si")


def test_policy_names_the_field_it_was_given():
    with pytest.raises(Invalid) as caught:
        check_password_policy("short", "li.si", field="new_password")
    assert list(caught.value.errors) == ["new_password"]
    assert caught.value.code == "weak_password"


# ------------------------------------------------------------------ logging in

def test_authenticate_accepts_the_right_password(make_user, hasher):
    user = make_user()
    assert authenticate(user, "Initial#2026", hasher) is user


def test_authenticate_refuses_a_wrong_password(make_user, hasher):
    with pytest.raises(Unauthorized) as caught:
        authenticate(make_user(), "Wrong#2026", hasher)
    assert caught.value.code == "invalid_credentials"


def test_unknown_user_gets_the_same_answer_and_still_pays_for_a_hash(hasher):
    with pytest.raises(Unauthorized) as caught:
        authenticate(None, "whatever1", hasher)
    assert caught.value.code == "invalid_credentials"
    assert hasher.dummy_calls == 1


def test_non_string_password_is_just_wrong(make_user, hasher):
    with pytest.raises(Unauthorized):
        authenticate(make_user(), None, hasher)


def test_inactive_user_cannot_log_in_even_with_the_right_password(make_user, hasher):
    user = make_user()
    user.update({"active": False})
    with pytest.raises(Forbidden) as caught:
        authenticate(user, "Initial#2026", hasher)
    assert caught.value.code == "account_disabled"


def test_inactive_user_with_a_wrong_password_learns_nothing(make_user, hasher):
    user = make_user()
    user.update({"active": False})
    with pytest.raises(Unauthorized) as caught:
        authenticate(user, "Wrong#2026", hasher)
    assert caught.value.code == "invalid_credentials"


def test_an_outdated_hash_is_upgraded_at_a_successful_login(make_user, hasher):
    user = make_user()
    hasher.scheme = "v2"
    assert user.check_password("Initial#2026", hasher)
    assert user.password_hash.startswith("v2$")


def test_a_failed_login_does_not_touch_the_hash(make_user, hasher):
    user = make_user()
    before = user.password_hash
    hasher.scheme = "v2"
    assert not user.check_password("Wrong#2026", hasher)
    assert user.password_hash == before


# ------------------------------------------------------------------ sessions

def test_a_current_session_is_accepted(make_user):
    make_user().check_session(0, "jti-1")


def test_must_change_password_blocks_work_until_changed(make_user, hasher):
    user = make_user()
    with pytest.raises(Forbidden) as caught:
        user.ensure_password_changed()
    assert caught.value.code == "password_change_required"
    user.change_password("Initial#2026", "Better#2026", hasher)
    user.ensure_password_changed()


def test_inactive_users_sessions_are_refused(make_user):
    user = make_user()
    user.update({"active": False})
    with pytest.raises(Unauthorized) as caught:
        user.check_session(user.session_version)
    assert caught.value.code == "account_disabled"


def test_deactivation_revokes_every_session_even_after_reactivation(make_user):
    user = make_user()
    user.update({"active": False})
    user.update({"active": True})
    with pytest.raises(Unauthorized) as caught:
        user.check_session(0, "jti-1")
    assert caught.value.code == "session_revoked"


# ------------------------------------------------------------------ changing the password

def test_change_password_needs_the_old_one(make_user, hasher):
    user = make_user()
    with pytest.raises(Invalid) as caught:
        user.change_password("Wrong#2026", "Better#2026", hasher)
    assert list(caught.value.errors) == ["old_password"]
    assert user.must_change_password is True
    assert user.session_version == 0


def test_change_password_applies_the_policy_to_the_new_one(make_user, hasher):
    user = make_user()
    with pytest.raises(Invalid) as caught:
        user.change_password("Initial#2026", "zhang.san", hasher)
    assert list(caught.value.errors) == ["new_password"]


def test_change_password_refuses_the_same_password(make_user, hasher):
    with pytest.raises(Invalid) as caught:
        make_user().change_password("Initial#2026", "Initial#2026", hasher)
    assert list(caught.value.errors) == ["new_password"]


def test_change_password_clears_the_flag_and_swaps_the_hash(make_user, hasher):
    user = make_user()
    user.change_password("Initial#2026", "Better#2026", hasher, now=NOW + timedelta(hours=1))
    assert user.must_change_password is False
    assert user.check_password("Better#2026", hasher)
    assert not user.check_password("Initial#2026", hasher)
    assert user.updated_at == NOW + timedelta(hours=1)


def test_change_password_logs_out_other_sessions_but_keeps_the_callers(make_user, hasher):
    user = make_user()
    user.change_password("Initial#2026", "Better#2026", hasher, keep_session="mine")
    assert user.session_version == 1
    user.check_session(0, "mine")
    with pytest.raises(Unauthorized) as caught:
        user.check_session(0, "the-phone")
    assert caught.value.code == "session_revoked"
    user.check_session(1, "a-new-login")


def test_a_second_change_drops_the_session_kept_by_the_first(make_user, hasher):
    user = make_user()
    user.change_password("Initial#2026", "Better#2026", hasher, keep_session="first")
    user.change_password("Better#2026", "Best#20266", hasher, keep_session="second")
    assert not user.accepts_session(0, "first")
    assert user.accepts_session(0, "second")


def test_change_password_records_no_event(make_user, hasher):
    user = make_user()
    user.events.clear()
    user.change_password("Initial#2026", "Better#2026", hasher)
    assert user.events == []


def test_admin_reset_forces_a_change_and_logs_everyone_out(make_user, hasher):
    user = make_user()
    user.change_password("Initial#2026", "Better#2026", hasher, keep_session="mine")
    user.reset_password("Temporary#1", hasher)
    assert user.must_change_password is True
    assert user.check_password("Temporary#1", hasher)
    assert not user.accepts_session(0, "mine")
    assert not user.accepts_session(1, "other")


def test_an_admin_cannot_reset_their_own_password(make_user, hasher):
    admin = make_user(role="admin")
    admin.change_password("Initial#2026", "Better#2026", hasher, keep_session="mine")
    with pytest.raises(Forbidden) as refused:
        admin.reset_password("Temporary#1", hasher, actor_id=admin.id)
    assert refused.value.code == "cannot_reset_own_password"
    assert "/api/v1/auth/password" in refused.value.detail
    assert admin.check_password("Better#2026", hasher)        # nothing changed
    assert admin.must_change_password is False
    assert admin.accepts_session(admin.session_version, "mine")
    other = make_user(username="li.si")
    other.reset_password("Temporary#1", hasher, actor_id=admin.id)
    assert other.check_password("Temporary#1", hasher)


def test_a_wrong_current_password_is_a_wrong_password_error(make_user, hasher):
    from gateway.identity.domain import WrongPassword

    with pytest.raises(WrongPassword) as wrong:
        make_user().change_password("Wrong#2026", "Better#2026", hasher)
    assert isinstance(wrong.value, Invalid) and wrong.value.code == "wrong_password"
    assert set(wrong.value.errors) == {"old_password"}


# ------------------------------------------------------------------ admin edits

def test_update_changes_fields_and_records_what_changed(make_user):
    user = make_user()
    user.events.clear()
    diff = user.update({"role": "supervisor", "team": "east/shanghai", "name": "张三"},
                       now=NOW + timedelta(days=1))
    assert diff == {"role": ["rep", "supervisor"],
                    "team": ["east/shanghai/team-1", "east/shanghai"]}
    assert (user.role, user.team, user.updated_at) == ("supervisor", "east/shanghai",
                                                       NOW + timedelta(days=1))
    [event] = user.events
    assert event.type == "user.updated"
    assert event.data["changes"] == diff
    assert event.data["role"] == "supervisor"
    assert "password" not in json.dumps(event.data)


def test_update_with_nothing_new_records_nothing(make_user):
    user = make_user()
    user.events.clear()
    assert user.update({"role": "rep", "region": "EAST"}) == {}
    assert user.events == []
    assert user.updated_at == NOW


def test_update_refuses_fields_an_admin_may_not_set(make_user):
    with pytest.raises(Invalid) as caught:
        make_user().update({"username": "other", "password_hash": "x"})
    assert set(caught.value.errors) == {"username", "password_hash"}
    assert caught.value.code == "unknown_field"


def test_update_validates_values_and_changes_nothing_on_error(make_user):
    user = make_user()
    with pytest.raises(Invalid) as caught:
        user.update({"role": "supervisor", "timezone": "Nowhere/Land"})
    assert list(caught.value.errors) == ["timezone"]
    assert user.role == "rep"


def test_active_must_be_a_boolean(make_user):
    with pytest.raises(Invalid):
        make_user().update({"active": "no"})


def test_an_admin_cannot_deactivate_themselves(make_user):
    admin = make_user(role="admin")
    with pytest.raises(Conflict):
        admin.update({"active": False}, actor_id=admin.id)
    assert admin.active is True


def test_removing_the_last_active_admin_is_detected(make_user):
    admin = make_user(role="admin")
    assert would_leave_no_admin(admin, {"active": False}, other_active_admins=0)
    assert would_leave_no_admin(admin, {"role": "manager"}, other_active_admins=0)
    assert not would_leave_no_admin(admin, {"role": "manager"}, other_active_admins=1)
    assert not would_leave_no_admin(admin, {"name": "新名字"}, other_active_admins=0)
    assert not would_leave_no_admin(make_user(), {"active": False}, other_active_admins=0)
