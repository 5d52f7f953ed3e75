"""The gateway's caller cache inside the running system (one process, the real local
RabbitMQ): what another gateway replica changes reaches this one by its user.* event,
what this one changes holds at once, and a revoked session is never served from it."""
from __future__ import annotations

import uuid

import pytest

from crm_testing import eventually, handled
from crmkit.auth import TokenService
from crmkit.identity import Identity
from crmkit.mongo import get_database
from gateway.identity.handlers import IdentityHandlers
from gateway.identity.passwords import Argon2Hasher
from gateway.identity.repository import UserRepository

REPORT = "/api/v1/reports/summary"
ADMIN_ONLY = "/api/v1/admin/dead-letters?service=customer"


@pytest.fixture(scope="module")
def listener(system):
    listener = system.gateway.extensions["crm.gateway.callers"]
    eventually(listener.ready.is_set, message="the caller cache listener is consuming")
    return listener


@pytest.fixture(scope="module")
def other_replica(system):
    """Identity handlers of another gateway process: same database, none of this one's
    cache, so what they change reaches this process only as an event."""
    settings = system.settings
    database = get_database(settings.mongo_url, settings.database_name("gateway"))
    return IdentityHandlers(UserRepository(database), Argon2Hasher(fast=True),
                            TokenService(settings.jwt_secret))


def as_identity(session) -> Identity:
    me = session.user
    return Identity(me["id"], me["username"], me["name"], me["role"], me["team"], me["region"])


def ready_user(org, listener, role="rep", **kwargs):
    """org.user, once this process has seen its user.created (which, arriving later,
    would empty its cache entry and make the cache look unused)."""
    username = f"cache_{role}_{uuid.uuid4().hex[:8]}"
    with handled([listener], lambda envelope: envelope["type"] == "user.created"
                 and envelope["data"]["username"] == username):
        session = org.user(role, username=username, **kwargs)
    return session


def about(user_id):
    return lambda envelope: (envelope["type"] == "user.updated"
                             and envelope["data"]["id"] == user_id)


def test_a_user_disabled_elsewhere_is_refused_once_the_event_is_handled(org, listener,
                                                                       other_replica):
    rep = ready_user(org, listener)
    assert rep.get(REPORT).status_code == 200
    assert listener.cache.get(rep.token) is not None          # served from the cache now
    with handled([listener], about(rep.id)):
        other_replica.update_user(as_identity(org.admin), rep.id, {"active": False})
    assert listener.cache.get(rep.token) is None
    refused = rep.get(REPORT)
    assert refused.status_code == 401
    assert refused.json["code"] in ("account_disabled", "session_revoked")


def test_a_role_changed_elsewhere_holds_once_the_event_is_handled(org, listener,
                                                                 other_replica):
    rep = ready_user(org, listener)
    assert rep.get(ADMIN_ONLY).status_code == 403
    assert listener.cache.get(rep.token).identity.role == "rep"
    with handled([listener], about(rep.id)):
        other_replica.update_user(as_identity(org.admin), rep.id, {"role": "admin"})
    assert rep.get(ADMIN_ONLY).status_code == 200             # same token, current role
    assert listener.cache.get(rep.token).identity.role == "admin"


def test_a_password_change_here_revokes_the_cached_sessions_at_once(org, listener):
    """A password change records no event: the process that made it forgets at once."""
    laptop = ready_user(org, listener, password="Laptop#Pass-2026")
    phone = org.login(laptop.user["username"], "Laptop#Pass-2026")
    assert phone.get(REPORT).status_code == 200
    assert listener.cache.get(phone.token) is not None
    assert laptop.post("/api/v1/auth/password", json={
        "old_password": "Laptop#Pass-2026", "new_password": "Phone#Pass-2026"}
    ).status_code == 204
    refused = phone.get(REPORT)
    assert refused.status_code == 401 and refused.json["code"] == "session_revoked"
    assert laptop.get(REPORT).status_code == 200               # the session that changed it


def test_an_admin_reset_here_revokes_the_cached_session_at_once(org, listener):
    rep = ready_user(org, listener)
    assert rep.get(REPORT).status_code == 200
    assert org.admin.post(f"/api/v1/users/{rep.id}/password",
                          json={"password": "Temporary#1-2026"}).status_code == 204
    assert rep.get(REPORT).status_code == 401


def test_a_settings_change_reaches_every_cached_caller(org, listener):
    supervisor = ready_user(org, listener, "supervisor")
    assert supervisor.get(REPORT).status_code == 200
    assert listener.cache.get(supervisor.token).identity.sees_subordinates is True
    current = org.admin.get("/api/v1/settings")
    # this process forgets at once; its own event then empties the cache once more
    with handled([listener], lambda envelope: envelope["type"] == "settings.updated"):
        changed = org.admin.put("/api/v1/settings", json={"superiors_see_subordinates": False},
                                headers={"If-Match": current.headers["ETag"]})
        assert changed.status_code == 200, changed
        assert listener.cache.get(supervisor.token) is None
    try:
        assert supervisor.get(REPORT).status_code == 200
        assert listener.cache.get(supervisor.token).identity.sees_subordinates is False
    finally:
        current = org.admin.get("/api/v1/settings")
        assert org.admin.put("/api/v1/settings", json={"superiors_see_subordinates": True},
                             headers={"If-Match": current.headers["ETag"]}).status_code == 200
