"""The identity repository against FerretDB through crmkit's client factory."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from crmkit.bus.outbox import OUTBOX, PENDING, pending_envelopes
from crmkit.errors import Conflict, VersionConflict
from gateway.identity.domain import User
from gateway.identity.passwords import Argon2Hasher
from gateway.identity.repository import UserRepository
from gateway.identity.throttle import Attempt
from crm_testing import fresh_database

# From the real time: the attempts' TTL index expires by the real clock.
NOW = datetime.now(timezone.utc).replace(microsecond=0)
HASHER = Argon2Hasher(fast=True)


@pytest.fixture
def repo():
    repository = UserRepository(fresh_database("identity"))
    repository.ensure_indexes()
    return repository


def new_user(username="zhang.san", **overrides):
    fields = dict(username=username, name="张三", password="Initial#2026", role="rep",
                  team="east/shanghai/team-1", region="east", hasher=HASHER, now=NOW)
    fields.update(overrides)
    return User.create(**fields)


def test_a_user_round_trips_with_every_field(repo):
    user = new_user(email="zs@example.com", timezone="Europe/London")
    repo.add(user, [])
    loaded = repo.get(user.id)
    for name in ("id", "username", "name", "role", "team", "region", "timezone", "email",
                 "active", "must_change_password", "session_version", "kept_session",
                 "password_hash", "version", "created_at", "updated_at"):
        assert getattr(loaded, name) == getattr(user, name), name
    assert loaded.created_at.tzinfo is not None


def test_add_writes_the_events_into_the_same_document(repo):
    user = new_user()
    repo.add(user, [{"id": "e1", "type": "user.created"}])
    document = repo.users.find_one({"_id": user.id})
    assert pending_envelopes(document) == [{"id": "e1", "type": "user.created"}]
    assert document[PENDING] is True
    assert user.events == []


def test_usernames_are_unique_ignoring_case(repo):
    repo.add(new_user("zhang.san"), [])
    with pytest.raises(Conflict) as caught:
        repo.add(new_user("ZHANG.SAN"), [])
    assert caught.value.code == "username_taken"
    assert repo.by_username("Zhang.San").username == "zhang.san"


def test_save_bumps_the_version_and_appends_events(repo):
    user = new_user()
    repo.add(user, [{"id": "e1"}])
    user.update({"name": "张三丰"})
    repo.save(user, 0, [{"id": "e2"}])
    assert user.version == 1
    document = repo.users.find_one({"_id": user.id})
    assert document["version"] == 1 and document["name"] == "张三丰"
    assert [e["id"] for e in pending_envelopes(document)] == ["e1", "e2"]


def test_a_stale_save_is_refused_and_changes_nothing(repo):
    user = new_user()
    repo.add(user, [])
    first, second = repo.get(user.id), repo.get(user.id)
    first.update({"name": "甲"})
    repo.save(first, 0, [])
    second.update({"name": "乙"})
    with pytest.raises(VersionConflict):
        repo.save(second, 0, [{"id": "lost"}])
    document = repo.users.find_one({"_id": user.id})
    assert document["name"] == "甲"
    assert not document.get(OUTBOX)


def test_concurrent_saves_of_one_version_let_exactly_one_win(repo):
    user = new_user()
    repo.add(user, [])
    copies = [repo.get(user.id) for _ in range(8)]
    outcomes = []

    def edit(copy, n):
        copy.update({"name": f"名字{n}"})
        try:
            repo.save(copy, 0, [])
            outcomes.append("won")
        except VersionConflict:
            outcomes.append("lost")

    threads = [threading.Thread(target=edit, args=(c, n)) for n, c in enumerate(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("won") == 1
    assert repo.get(user.id).version == 1


def test_count_active_admins(repo):
    repo.add(new_user("a1", role="admin"), [])
    second = new_user("a2", role="admin")
    repo.add(second, [])
    gone = new_user("a3", role="admin")
    gone.update({"active": False})
    repo.add(gone, [])
    assert repo.count_active_admins() == 2
    assert repo.count_active_admins(excluding=second.id) == 1


def test_list_pages_and_sorts(repo):
    for name in ("c.c", "a.a", "b.b"):
        repo.add(new_user(name), [])
    users, total = repo.list({}, sort=[("username_key", 1), ("_id", 1)], page=2, per_page=2)
    assert total == 3 and [u.username for u in users] == ["c.c"]


def test_attempts_are_read_back_by_key_and_time(repo):
    old = Attempt("user:zs", NOW - timedelta(minutes=10), False)
    recent = Attempt("user:zs", NOW - timedelta(minutes=1), False)
    other = Attempt("user:ls", NOW, False)
    repo.record_attempts([old, recent, other], keep_for=timedelta(minutes=5))
    assert repo.attempts_since(["user:zs"], NOW - timedelta(minutes=5)) == [recent]


def test_attempts_carry_an_expiry_and_the_sweep_forgets_only_expired_ones(repo):
    repo.record_attempts([Attempt("ip:1.2.3.4", NOW, False)], keep_for=timedelta(minutes=5))
    repo.record_attempts([Attempt("ip:1.2.3.4", NOW + timedelta(minutes=3), False)],
                         keep_for=timedelta(minutes=5))
    assert repo.attempts.find_one({"at": NOW})["expire_at"] == NOW + timedelta(minutes=5)
    assert "expire_at" in repo.attempts.index_information()   # no TTL index: a sweep
    assert repo.forget_attempts(NOW + timedelta(minutes=6)) == 1
    assert [doc["at"] for doc in repo.attempts.find()] == [NOW + timedelta(minutes=3)]
