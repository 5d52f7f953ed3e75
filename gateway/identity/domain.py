"""The User aggregate: who may log in, with which role, team and region.

Plain Python (no Mongo, Flask or argon2 here): hashing is a port (`PasswordHasher`) so
the rules are testable with a fake. Rules raise crmkit.errors; changes other systems
care about are recorded as `user.created` / `user.updated` DomainEvents on `events`,
whose data never holds a password or a hash.

Sessions: an access token carries the user's `session_version` ("sv") and its own id
("jti"). Changing the password, an admin password reset or a deactivation bumps the
version, so every older token is refused. The one session that changed the password is
kept (`kept_session`), so a user is not thrown out by their own password change while
every other device is.

The aggregate owns `version` (crmkit.commands): each changing command raises it once,
and the user.* events carry the version they leave the user at, so that every copy of
a user orders them by it (crmkit.bus.ordering).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Protocol

from crmkit.clock import org_timezone, utcnow
from crmkit.errors import Conflict, Forbidden, Invalid, Unauthorized
from crmkit.events import DomainEvent
from crmkit.identity import Identity
from gateway.identity.fields import (PASSWORD_MAX_LENGTH, check_password_policy, clean_all,
                                     password_problems, username_key)

# Fields an admin may change with PATCH /users/{id}.
PATCHABLE_FIELDS = ("name", "role", "team", "region", "timezone", "email", "active")

INVALID_CREDENTIALS = "用户名或密码错误 / Wrong username or password."
ACCOUNT_DISABLED = "该账号已停用，请联系管理员 / This account is disabled; ask an administrator."
SESSION_REVOKED = ("登录已失效，请重新登录 / This session is no longer valid; log in again.")
RESET_OWN_PASSWORD = ("不能重置自己的密码，请用原密码修改（POST /api/v1/auth/password）/ "
                      "You cannot reset your own password; change it with your current one "
                      "(POST /api/v1/auth/password).")
PASSWORD_CHANGE_REQUIRED = ("请先修改初始密码 / Change your initial password first "
                            "(POST /api/v1/auth/password).")


class WrongPassword(Invalid):
    """The current password given to change it is wrong: a guess, which the login
    throttle counts like a failed login."""

    def __init__(self):
        super().__init__({"old_password": ["原密码不正确 / The current password is wrong."]},
                         code="wrong_password")


class PasswordHasher(Protocol):
    """The port the domain hashes through (gateway.identity.passwords implements it)."""

    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...

    def verify_dummy(self, password: str) -> None:
        """Spend the time of one verification (unknown users must not answer faster)."""


# ---------------------------------------------------------------- the aggregate

@dataclass(eq=False)
class User:
    id: str
    username: str
    name: str
    role: str
    team: str
    region: str
    timezone: str
    password_hash: str = field(repr=False)
    created_at: datetime
    updated_at: datetime
    email: str | None = None
    active: bool = True
    must_change_password: bool = True
    session_version: int = 0
    # id ("jti") of the session that last changed the password: it survives that bump.
    kept_session: str | None = None
    version: int = 0
    events: list[DomainEvent] = field(default_factory=list, repr=False)

    # -- creation ---------------------------------------------------------------

    @classmethod
    def create(cls, *, username: str, name: str, password: str, role: str, team: str,
               region: str, hasher: PasswordHasher, timezone: str | None = None,
               email: str | None = None, must_change_password: bool = True,
               user_id: str | None = None, now: datetime | None = None) -> "User":
        """An admin creates a user with an initial password the user must change."""
        values = {"username": username, "name": name, "role": role, "team": team,
                  "region": region, "email": email,
                  "timezone": timezone if timezone is not None else org_timezone().key}
        errors: dict[str, list[str]] = {}
        try:
            cleaned = clean_all(values)
        except Invalid as invalid:
            errors.update(invalid.errors)
            cleaned = {}
        problems = password_problems(password, username if isinstance(username, str) else None)
        if problems:
            errors["password"] = problems
        if errors:
            raise Invalid(errors)
        now = now or utcnow()
        user = cls(id=user_id or uuid.uuid4().hex, password_hash=hasher.hash(password),
                   created_at=now, updated_at=now, active=True,
                   must_change_password=must_change_password, **cleaned)
        user._record("user.created", user.profile())
        return user

    @classmethod
    def bootstrap_admin(cls, *, username: str, password: str, hasher: PasswordHasher,
                        team: str = "hq", region: str = "hq", name: str | None = None,
                        now: datetime | None = None) -> "User":
        """The first admin, from the operator's environment; not forced to change it.

        The password policy is not enforced here: the operator chose this password
        outside the product, and refusing to start would lock everyone out. The caller
        warns about `password_problems` instead.
        """
        if not isinstance(password, str) or not password:
            raise Invalid("password", "CRM_ADMIN_PASSWORD is empty.")
        cleaned = clean_all({"username": username, "team": team, "region": region,
                              "name": name or "Administrator", "role": "admin",
                              "timezone": org_timezone().key, "email": None})
        now = now or utcnow()
        user = cls(id=uuid.uuid4().hex, password_hash=hasher.hash(password), created_at=now,
                   updated_at=now, active=True, must_change_password=False, **cleaned)
        user._record("user.created", user.profile())
        return user

    # -- reading ----------------------------------------------------------------

    @property
    def username_key(self) -> str:
        return username_key(self.username)

    def profile(self) -> dict[str, Any]:
        """What other systems may know about a user (the data of user.* events)."""
        return {"id": self.id, "username": self.username, "name": self.name,
                "role": self.role, "team": self.team, "region": self.region,
                "timezone": self.timezone, "email": self.email, "active": self.active,
                "version": self.version}

    def to_identity(self) -> Identity:
        return Identity(user_id=self.id, username=self.username, name=self.name,
                        role=self.role, team=self.team, region=self.region,
                        timezone=self.timezone)

    # -- logging in and sessions --------------------------------------------------

    def check_password(self, password: Any, hasher: PasswordHasher) -> bool:
        """True if `password` is this user's; upgrades an outdated hash on the way (a
        change: the version moves)."""
        if not self._verify(password, hasher):
            return False
        if hasher.needs_rehash(self.password_hash):
            self.password_hash = hasher.hash(password)
            self.version += 1
        return True

    def _verify(self, password: Any, hasher: PasswordHasher) -> bool:
        if not isinstance(password, str) or len(password) > PASSWORD_MAX_LENGTH:
            hasher.verify_dummy("")
            return False
        return hasher.verify(self.password_hash, password)

    def accepts_session(self, session_version: Any, session_id: str | None = None) -> bool:
        if session_version == self.session_version:
            return True
        return session_id is not None and session_id == self.kept_session

    def check_session(self, session_version: Any, session_id: str | None = None) -> None:
        """May a request carrying this token act as this user now? Raises 401 if not."""
        if not self.active:
            raise Unauthorized(ACCOUNT_DISABLED, code="account_disabled")
        if not self.accepts_session(session_version, session_id):
            raise Unauthorized(SESSION_REVOKED, code="session_revoked")

    def ensure_password_changed(self) -> None:
        """Until the initial password is changed, only the password change is allowed."""
        if self.must_change_password:
            raise Forbidden(PASSWORD_CHANGE_REQUIRED, code="password_change_required")

    def _revoke_sessions(self, *, keep: str | None = None) -> None:
        self.session_version += 1
        self.kept_session = keep

    # -- password changes ----------------------------------------------------------

    def change_password(self, old_password: Any, new_password: Any, hasher: PasswordHasher,
                        *, keep_session: str | None = None,
                        now: datetime | None = None) -> None:
        """The user changes their own password; every other session is logged out."""
        if not self._verify(old_password, hasher):
            raise WrongPassword()
        check_password_policy(new_password, self.username, field="new_password")
        if new_password == old_password:
            raise Invalid({"new_password": ["新密码不能与原密码相同 / "
                                            "The new password must differ from the current one."]},
                          code="weak_password")
        self.password_hash = hasher.hash(new_password)
        self.must_change_password = False
        self._revoke_sessions(keep=keep_session)
        self.updated_at = now or utcnow()
        self.version += 1

    def reset_password(self, new_password: Any, hasher: PasswordHasher,
                       *, actor_id: str | None = None, now: datetime | None = None) -> None:
        """An admin sets a temporary password: the user must change it at next login.

        Not their own: that would let a stolen admin session take the account over
        without knowing its password, so it goes through `change_password`.
        """
        if actor_id is not None and actor_id == self.id:
            raise Forbidden(RESET_OWN_PASSWORD, code="cannot_reset_own_password")
        check_password_policy(new_password, self.username, field="password")
        self.password_hash = hasher.hash(new_password)
        self.must_change_password = True
        self._revoke_sessions()
        self.updated_at = now or utcnow()
        self.version += 1

    # -- admin changes ---------------------------------------------------------------

    def update(self, changes: Mapping[str, Any], *, actor_id: str | None = None,
               now: datetime | None = None) -> dict[str, list]:
        """An admin edits the profile; returns {field: [old, new]} of what really changed.

        Deactivating logs the user out everywhere at once. Nothing changes (and no event
        is recorded) when every value equals the current one.
        """
        unknown = sorted(set(changes) - set(PATCHABLE_FIELDS))
        if unknown:
            raise Invalid({name: ["不能修改此字段 / This field cannot be changed."]
                           for name in unknown}, code="unknown_field")
        cleaned = clean_all(changes)
        if actor_id == self.id and cleaned.get("active") is False:
            raise Conflict("不能停用自己的账号 / You cannot deactivate your own account.",
                           code="cannot_deactivate_self")
        diff = {name: [getattr(self, name), value] for name, value in cleaned.items()
                if getattr(self, name) != value}
        if not diff:
            return {}
        for name, (_, value) in diff.items():
            setattr(self, name, value)
        if "active" in diff and not self.active:
            self._revoke_sessions()
        self.updated_at = now or utcnow()
        self.version += 1
        self._record("user.updated", {**self.profile(), "changes": diff})
        return diff

    def _record(self, event_type: str, data: dict[str, Any]) -> None:
        self.events.append(DomainEvent(type=event_type, aggregate_id=self.id, data=data,
                                       region=self.region))


def authenticate(user: User | None, password: Any, hasher: PasswordHasher) -> User:
    """The login rule: right password and an active account, else refuse.

    An unknown username and a wrong password give the same answer in about the same
    time, so the login form cannot be used to find out who has an account. A disabled
    account is named as such, but only to someone who knows its password.
    """
    if user is None:
        hasher.verify_dummy(password if isinstance(password, str) else "")
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if not user.check_password(password, hasher):
        raise Unauthorized(INVALID_CREDENTIALS, code="invalid_credentials")
    if not user.active:
        raise Forbidden(ACCOUNT_DISABLED, code="account_disabled")
    return user


def would_leave_no_admin(user: User, changes: Mapping[str, Any], other_active_admins: int) -> bool:
    """True if applying `changes` to an active admin leaves the organisation without one."""
    if not (user.active and user.role == "admin") or other_active_admins > 0:
        return False
    return changes.get("active") is False or ("role" in changes and changes["role"] != "admin")
