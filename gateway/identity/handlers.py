"""Identity use cases: load, apply the domain rule, save with the events, in one write.

No Flask here: the blueprint (api.py) parses and dumps, and the gateway calls
`IdentityService.authenticate` for every request it forwards.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from crmkit.auth import TokenService, bearer_token
from crmkit.bus.outbox import notify_outbox
from crmkit.clock import utcnow
from crmkit.errors import (Conflict, Forbidden, Invalid, NotFound, PreconditionFailed,
                           Unauthorized)
from crmkit.events import to_envelopes
from crmkit.identity import Identity
from crmkit.queries import count_matching
from crmkit.visibility import Owner, can_see, visibility_filter
from gateway.identity.domain import (User, WrongPassword, authenticate, password_problems,
                                     username_key, would_leave_no_admin)
from gateway.identity.repository import USERS, UserRepository
from gateway.identity.throttle import LoginThrottle

log = logging.getLogger(__name__)

API = "/api/v1"
# What a user who still has to change the initial password may do (CONTRACT §3).
ALLOWED_BEFORE_PASSWORD_CHANGE = frozenset({
    ("POST", f"{API}/auth/password"),
    ("POST", f"{API}/auth/login"),
    ("GET", f"{API}/me"),
})

ADMIN_ONLY = "只有管理员可以这样做 / Only an administrator may do this."
SUPERVISOR_ONLY = "主管及以上才能查看用户 / Only supervisors and above may look up users."
USER_NOT_FOUND = "用户不存在 / No such user."
LAST_ADMIN = ("不能停用或降级最后一位管理员 / The last active administrator cannot be "
              "deactivated or demoted.")

SORTABLE = {"username": "username_key", "name": "name", "role": "role", "team": "team",
            "region": "region", "created_at": "created_at", "updated_at": "updated_at"}


@dataclass(frozen=True)
class Authenticated:
    """A request's caller, checked against their current user record."""

    user: User
    session_id: str | None      # the access token's jti

    @property
    def identity(self) -> Identity:
        return self.user.to_identity()


class IdentityService:
    def __init__(self, repository: UserRepository, hasher, tokens: TokenService, *,
                 throttle: LoginThrottle | None = None, producer: str = "gateway",
                 clock: Callable[[], datetime] = utcnow,
                 on_events: Callable[[str, list], None] = notify_outbox):
        self.repository = repository
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle or LoginThrottle()
        self.producer = producer
        self.clock = clock
        self._on_events = on_events

    # -- start-up ----------------------------------------------------------------------

    def bootstrap_admin(self, username: str, password: str | None, *, team: str = "hq",
                        region: str = "hq") -> User | None:
        """Create the first admin if there is no admin at all; safe in every replica."""
        if not password:
            return None
        if count_matching(self.repository.users, {"role": "admin"}) > 0:
            return None
        for problem in password_problems(password, username):
            log.warning("CRM_ADMIN_PASSWORD: %s", problem)
        admin = User.bootstrap_admin(username=username, password=password, hasher=self.hasher,
                                     team=team, region=region, now=self.clock())
        try:
            self._add(admin, actor_id=None)
        except Conflict:  # another replica won the race, or the name is already used
            log.warning("bootstrap admin %r not created: the username exists", username)
            return None
        log.info("created the first admin %r from CRM_ADMIN_PASSWORD", admin.username)
        return admin

    # -- logging in -----------------------------------------------------------------------

    def login(self, username: str, password: str, client_ip: str | None) -> dict[str, Any]:
        user = self.repository.by_username(username)
        stored_hash = user.password_hash if user else None
        self._password_attempt(username_key(username), client_ip,
                               lambda: authenticate(user, password, self.hasher))
        if user.password_hash != stored_hash:  # upgraded to the current argon2 costs
            self._save_quietly(user)
        token, expires_in = self.tokens.issue_access(user.id,
                                                     session_version=user.session_version)
        return {"access_token": token, "token_type": "Bearer", "expires_in": expires_in,
                "must_change_password": user.must_change_password}

    def authenticate(self, authorization: str | None, *, method: str = "GET",
                     path: str = "") -> Authenticated:
        """Access token -> the user's current record -> may this request go ahead?

        401 for a missing/bad/expired token, an inactive user or a revoked session;
        403 `password_change_required` while the initial password is unchanged, except
        for the few requests that let the user change it.
        """
        claims = self.tokens.verify_access(bearer_token(authorization))
        user = self.repository.get(claims.get("sub"))
        if user is None:
            raise Unauthorized("该账号不存在 / This account no longer exists.",
                               code="invalid_token")
        user.check_session(claims.get("sv", 0), claims.get("jti"))
        request = (method.upper(), _normalise_path(path))
        if request not in ALLOWED_BEFORE_PASSWORD_CHANGE:
            user.ensure_password_changed()
        return Authenticated(user=user, session_id=claims.get("jti"))

    def authenticate_admin(self, authorization: str | None, *, method: str = "GET",
                           path: str = "") -> Authenticated:
        """For what only admins may read outside the API (the gateway's /metrics)."""
        caller = self.authenticate(authorization, method=method, path=path)
        _require_admin(caller.identity)
        return caller

    def internal_token(self, caller: Authenticated) -> str:
        """The short-lived token a forwarded request carries to a service."""
        return self.tokens.issue_internal(caller.identity)

    def change_password(self, caller: Authenticated, old_password: str, new_password: str,
                        client_ip: str | None = None) -> None:
        """A wrong `old_password` is a password guess like a failed login: it counts
        against the same throttle, or a stolen session could guess the password."""
        user = self._load(caller.user.id)
        self._password_attempt(user.username_key, client_ip, lambda: user.change_password(
            old_password, new_password, self.hasher, keep_session=caller.session_id,
            now=self.clock()))
        self._save(user, actor_id=user.id)

    def _password_attempt(self, key: str, client_ip: str | None,
                          attempt: Callable[[], Any]) -> None:
        """Run a password check under the login throttle (gateway.identity.throttle):
        refused while blocked; a wrong password recorded as a failure, a right one as a
        success. Other errors (a weak new password) are no guess and not recorded."""
        now = self.clock()
        attempts = self.repository.attempts_since(self.throttle.keys(key, client_ip).keys(),
                                                  self.throttle.horizon(now))
        self.throttle.decide(key, client_ip, attempts, now).raise_if_blocked()
        try:
            attempt()
        except (Unauthorized, WrongPassword):
            self.repository.record_attempts(self.throttle.failure(key, client_ip, now),
                                            keep_for=self.throttle.retention)
            raise
        self.repository.record_attempts(self.throttle.success(key, client_ip, now),
                                        keep_for=self.throttle.retention)

    # -- user administration -----------------------------------------------------------------

    def create_user(self, actor: Identity, data: Mapping[str, Any]) -> User:
        _require_admin(actor)
        user = User.create(hasher=self.hasher, now=self.clock(), **data)
        self._add(user, actor_id=actor.user_id)
        return user

    def list_users(self, actor: Identity, *, page: int = 1, per_page: int = 20,
                   sort: str | None = None, q: str | None = None, role: str | None = None,
                   team: str | None = None, region: str | None = None,
                   active: bool | None = None) -> tuple[list[User], int]:
        _require_reader(actor)
        clauses: list[dict] = []
        scope = visibility_filter(actor, owner_field="_id", team_field="team",
                                  region_field="region", shared_field=None)
        if scope:
            clauses.append(scope)
        clauses += _user_clauses(q=q, role=role, team=team, region=region)
        if active is not None:
            clauses.append({"active": active})
        filter_ = {"$and": clauses} if clauses else {}
        return self.repository.list(filter_, sort=_sort(sort), page=page, per_page=per_page)

    def directory(self, actor: Identity, *, q: str | None = None, role: str | None = None,
                  team: str | None = None, region: str | None = None,
                  limit: int = 500) -> list[User]:
        """Active colleagues (names, roles, teams) for pickers and owner names: any signed-in
        user may read it; it carries no contact data and grants nothing."""
        clauses = [{"active": True}, *_user_clauses(q=q, role=role, team=team, region=region)]
        users, _ = self.repository.list({"$and": clauses}, sort=[("username", 1)], page=1,
                                        per_page=limit)
        return users

    def get_user(self, actor: Identity, user_id: str) -> User:
        _require_reader(actor)
        user = self.repository.get(user_id)
        if user is None or not can_see(actor, Owner(user.id, user.team, user.region)):
            raise NotFound(USER_NOT_FOUND, code="user_not_found")
        return user

    def update_user(self, actor: Identity, user_id: str, changes: Mapping[str, Any], *,
                    if_match: int | None = None) -> User:
        _require_admin(actor)
        user = self._load(user_id)
        _check_version(user, if_match)
        others = self.repository.count_active_admins(excluding=user.id)
        if would_leave_no_admin(user, changes, others):
            raise Conflict(LAST_ADMIN, code="last_admin")
        if user.update(changes, actor_id=actor.user_id, now=self.clock()):
            self._save(user, actor_id=actor.user_id)
        return user

    def reset_password(self, actor: Identity, user_id: str, password: str) -> User:
        """An admin gives a user a temporary password (it must be changed at login)."""
        _require_admin(actor)
        user = self._load(user_id)
        user.reset_password(password, self.hasher, actor_id=actor.user_id, now=self.clock())
        self._save(user, actor_id=actor.user_id)
        return user

    # -- plumbing --------------------------------------------------------------------------------

    def _load(self, user_id: str) -> User:
        user = self.repository.get(user_id)
        if user is None:
            raise NotFound(USER_NOT_FOUND, code="user_not_found")
        return user

    def _envelopes(self, user: User, actor_id: str | None) -> list[dict]:
        return to_envelopes(user.events, producer=self.producer, actor_id=actor_id)

    def _add(self, user: User, *, actor_id: str | None) -> None:
        envelopes = self._envelopes(user, actor_id)
        self.repository.add(user, envelopes)
        if envelopes:
            self._on_events(USERS, [user.id])

    def _save(self, user: User, *, actor_id: str | None) -> None:
        envelopes = self._envelopes(user, actor_id)
        self.repository.save(user, envelopes)
        if envelopes:
            self._on_events(USERS, [user.id])

    def _save_quietly(self, user: User) -> None:
        """Best effort (a rehash): losing a race to a real change is fine."""
        try:
            self._save(user, actor_id=user.id)
        except Conflict:
            pass


def _require_admin(actor: Identity) -> None:
    if not actor.is_admin:
        raise Forbidden(ADMIN_ONLY, code="admin_required")


def _require_reader(actor: Identity) -> None:
    if not actor.at_least("supervisor"):
        raise Forbidden(SUPERVISOR_ONLY, code="forbidden")


def _check_version(user: User, if_match: int | None) -> None:
    if if_match is not None and if_match != user.version:
        raise PreconditionFailed(
            f"用户已被修改（当前版本 {user.version}）/ The user has changed "
            f"(current version {user.version}).", code="stale_version")


def _sort(sort: str | None) -> list[tuple[str, int]]:
    text = sort or "username"
    direction = -1 if text.startswith("-") else 1
    name = text.lstrip("+-")
    if name not in SORTABLE:
        raise Invalid("sort", "可排序字段 / Sort by one of: " + ", ".join(sorted(SORTABLE)) + ".")
    return [(SORTABLE[name], direction), ("_id", direction)]


def _normalise_path(path: str) -> str:
    # A decoded path: a "?" in it arrived as %3F and is part of the path, not a query.
    return (path or "").rstrip("/") or "/"


def _user_clauses(*, q: str | None, role: str | None, team: str | None,
                  region: str | None) -> list[dict]:
    """The user list's and the directory's filters: name contains, role, team and below,
    region."""
    clauses: list[dict] = []
    if q:
        pattern = {"$regex": re.escape(q.strip()), "$options": "i"}
        clauses.append({"$or": [{"username": pattern}, {"name": pattern}]})
    if role:
        clauses.append({"role": role})
    if team:
        path = team.strip().strip("/").lower()
        clauses.append({"$or": [{"team": path},
                                {"team": {"$regex": "^" + re.escape(path + "/")}}]})
    if region:
        clauses.append({"region": region.strip().lower()})
    return clauses
