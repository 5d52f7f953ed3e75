"""Identity use cases: each change goes through the kernel's command runner (load, If-Match,
the domain rule, save with the events in one write); Mongo filters are the repository's.

No Flask here: the blueprint (api.py) parses and dumps, and the gateway calls
`IdentityHandlers.authenticate` for every request it forwards.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Mapping

from crmkit.auth import TokenService, bearer_token
from crmkit.clock import utcnow
from crmkit.commands import CommandRunner, Noun
from crmkit.errors import Conflict, Forbidden, NotFound, Unauthorized, VersionConflict
from crmkit.identity import Identity
from crmkit.visibility import Owner, can_see
from gateway.identity.domain import User, WrongPassword, authenticate, would_leave_no_admin
from gateway.identity.fields import password_problems, username_key
from gateway.identity.repository import UserRepository
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


@dataclass(frozen=True)
class Authenticated:
    """A request's caller, checked against their current user record."""

    user: User
    session_id: str | None      # the access token's jti
    expires_at: int | None = None   # the access token's exp (seconds since the epoch)

    @property
    def identity(self) -> Identity:
        return self.user.to_identity()


class IdentityHandlers:
    def __init__(self, repository: UserRepository, hasher, tokens: TokenService, *,
                 throttle: LoginThrottle | None = None, producer: str = "gateway",
                 clock: Callable[[], datetime] = utcnow):
        self.repository = repository
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle or LoginThrottle()
        self.clock = clock
        self.runner = CommandRunner(load=self._load, save=self._save, producer=producer,
                                   noun=Noun("user", "用户"))
        # told `user_id` after each save of a user by this process (the gateway's caller
        # cache: a password change or reset revokes sessions without any event)
        self.user_saved: list[Callable[[str], None]] = []

    # -- start-up ----------------------------------------------------------------------

    def bootstrap_admin(self, username: str, password: str | None, *, team: str = "hq",
                        region: str = "hq") -> User | None:
        """Create the first admin if there is no admin at all; safe in every replica."""
        if not password:
            return None
        if self.repository.has_admin():
            return None
        for problem in password_problems(password, username):
            log.warning("CRM_ADMIN_PASSWORD: %s", problem)
        admin = User.bootstrap_admin(username=username, password=password, hasher=self.hasher,
                                     team=team, region=region, now=self.clock())
        try:
            self.runner.create(admin, self.repository.add, actor_id=None)
        except Conflict:  # another replica won the race, or the name is already used
            log.warning("bootstrap admin %r not created: the username exists", username)
            return None
        log.info("created the first admin %r from CRM_ADMIN_PASSWORD", admin.username)
        return admin

    # -- logging in -----------------------------------------------------------------------

    def login(self, username: str, password: str, client_ip: str | None) -> dict[str, Any]:
        user = self.repository.by_username(username)
        loaded_version = user.version if user else None
        self._password_attempt(username_key(username), client_ip,
                               lambda: authenticate(user, password, self.hasher))
        if user.version != loaded_version:  # the hash upgraded to the current argon2 costs
            try:
                self._save(user, loaded_version, [])
            except VersionConflict:
                pass  # best effort: losing a race to a real change is fine
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
        return Authenticated(user=user, session_id=claims.get("jti"),
                             expires_at=claims.get("exp"))

    def authenticate_admin(self, authorization: str | None, *, method: str = "GET",
                           path: str = "") -> Authenticated:
        """For what only admins may read outside the API (the gateway's /metrics)."""
        caller = self.authenticate(authorization, method=method, path=path)
        _require_admin(caller.identity)
        return caller

    def internal_token(self, caller: Authenticated, identity: Identity | None = None) -> str:
        """The short-lived token a forwarded request carries to a service (`identity`:
        the caller's, as the gateway completed it)."""
        return self.tokens.issue_internal(identity or caller.identity)

    def change_password(self, caller: Authenticated, old_password: str, new_password: str,
                        client_ip: str | None = None) -> None:
        """A wrong `old_password` is a password guess like a failed login: it counts
        against the same throttle, or a stolen session could guess the password."""
        self.runner.run(caller.user.id, lambda user: self._password_attempt(
            user.username_key, client_ip, lambda: user.change_password(
                old_password, new_password, self.hasher, keep_session=caller.session_id,
                now=self.clock())), actor_id=caller.user.id)

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
        self.runner.create(user, self.repository.add, actor_id=actor.user_id)
        return user

    def list_users(self, actor: Identity, *, page: int = 1, per_page: int = 20,
                   sort: str | None = None, q: str | None = None, role: str | None = None,
                   team: str | None = None, region: str | None = None,
                   active: bool | None = None) -> tuple[list[User], int]:
        _require_reader(actor)
        return self.repository.list_visible(actor, page=page, per_page=per_page, sort=sort,
                                            q=q, role=role, team=team, region=region,
                                            active=active)

    def directory(self, actor: Identity, *, q: str | None = None, role: str | None = None,
                  team: str | None = None, region: str | None = None,
                  limit: int = 500) -> list[User]:
        """Active colleagues (names, roles, teams) for pickers and owner names: any signed-in
        user may read it; it carries no contact data and grants nothing."""
        return self.repository.active_directory(q=q, role=role, team=team, region=region,
                                                limit=limit)

    def get_user(self, actor: Identity, user_id: str) -> User:
        _require_reader(actor)
        user = self.repository.get(user_id)
        if user is None or not can_see(actor, Owner(user.id, user.team, user.region)):
            raise NotFound(USER_NOT_FOUND, code="user_not_found")
        return user

    def update_user(self, actor: Identity, user_id: str, changes: Mapping[str, Any], *,
                    expected_version: int | None = None) -> User:
        _require_admin(actor)

        def update(user: User) -> None:
            others = self.repository.count_active_admins(excluding=user.id)
            if would_leave_no_admin(user, changes, others):
                raise Conflict(LAST_ADMIN, code="last_admin")
            user.update(changes, actor_id=actor.user_id, now=self.clock())

        user, _ = self.runner.run(user_id, update, actor_id=actor.user_id,
                                 expected_version=expected_version)
        return user

    def reset_password(self, actor: Identity, user_id: str, password: str) -> User:
        """An admin gives a user a temporary password (it must be changed at login)."""
        _require_admin(actor)
        user, _ = self.runner.run(user_id, lambda user: user.reset_password(
            password, self.hasher, actor_id=actor.user_id, now=self.clock()),
            actor_id=actor.user_id)
        return user

    # -- plumbing --------------------------------------------------------------------------------

    def _save(self, user: User, loaded_version: int, envelopes: list[dict]) -> None:
        self.repository.save(user, loaded_version, envelopes)
        for listener in self.user_saved:
            listener(user.id)

    def _load(self, user_id: str) -> User:
        user = self.repository.get(user_id)
        if user is None:
            raise NotFound(USER_NOT_FOUND, code="user_not_found")
        return user


def _require_admin(actor: Identity) -> None:
    if not actor.is_admin:
        raise Forbidden(ADMIN_ONLY, code="admin_required")


def _require_reader(actor: Identity) -> None:
    if not actor.at_least("supervisor"):
        raise Forbidden(SUPERVISOR_ONLY, code="forbidden")


def _normalise_path(path: str) -> str:
    # A decoded path: a "?" in it arrived as %3F and is part of the path, not a query.
    return (path or "").rstrip("/") or "/"

