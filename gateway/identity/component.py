"""Identity as one component the gateway's composition root plugs in.

    identity = IdentityComponent.create(db, tokens, settings=settings,
                                        idempotency_store=store)
    identity.start()                           # indexes + bootstrap admin
    app.register_blueprint(identity.blueprint)
    caller = identity.authenticate_forwarded(headers["Authorization"], method, path)
    forwarded_headers["Authorization"] = "Bearer " + caller.internal_token

and the gateway's outbox relay publishes `identity.outbox_collections` ("users").
"""
from __future__ import annotations

import os
from dataclasses import replace

from crmkit.auth import TokenService, bearer_token
from crmkit.scheduling import PeriodicJob
from gateway.identity import api
from gateway.identity.caller_cache import CallerCache, ForwardedCaller, UserEventsListener
from gateway.identity.handlers import IdentityHandlers
from gateway.identity.passwords import Argon2Hasher
from gateway.identity.repository import USERS, UserRepository
from gateway.identity.settings_handlers import SettingsHandlers
from gateway.identity.settings_repository import SETTINGS, SettingsRepository
from gateway.identity.throttle import LoginThrottle


class IdentityComponent:
    outbox_collections = (USERS, SETTINGS)

    def __init__(self, handlers: IdentityHandlers, *, idempotency_store=None,
                 admin_username: str = "admin", admin_password: str | None = None,
                 admin_team: str = "hq", admin_region: str = "hq",
                 settings: SettingsHandlers | None = None,
                 caller_cache: CallerCache | None = None):
        self.handlers = handlers
        self.repository = handlers.repository
        self.settings = settings   # the organisation's settings (CONTRACT §11)
        # forwarded callers, per process (gateway.identity.caller_cache); what this
        # process changes is forgotten at once, what others change by event (`listen`)
        self.callers = caller_cache if caller_cache is not None else \
            CallerCache.from_env(handlers.tokens.internal_ttl)
        handlers.user_saved.append(self.callers.forget_user)
        if settings is not None:
            settings.saved.append(self.callers.clear)
        self.blueprint = api.blueprint(handlers, idempotency_store, settings)
        self._admin = (admin_username, admin_password, admin_team, admin_region)

    @classmethod
    def create(cls, database, tokens: TokenService, *, settings=None, hasher=None,
               throttle: LoginThrottle | None = None, idempotency_store=None,
               env=None) -> "IdentityComponent":
        """Wire the real adapters: MongoDB repository, argon2id, the shared token secret.

        `settings` is a crmkit.config.Settings (admin username/password come from it);
        CRM_ADMIN_TEAM / CRM_ADMIN_REGION (default "hq") place the bootstrap admin;
        CRM_LOGIN_* tune the login throttle (gateway.identity.throttle), CRM_ARGON2_* the
        password hashing (gateway.identity.passwords).
        """
        env = os.environ if env is None else env
        handlers = IdentityHandlers(UserRepository(database),
                                    hasher or Argon2Hasher.from_env(env), tokens,
                                    throttle=throttle or LoginThrottle.from_env(env))
        return cls(handlers, idempotency_store=idempotency_store,
                   settings=SettingsHandlers(SettingsRepository(database)),
                   admin_username=getattr(settings, "admin_username", None)
                   or env.get("CRM_ADMIN_USERNAME") or "admin",
                   admin_password=getattr(settings, "admin_password", None)
                   or env.get("CRM_ADMIN_PASSWORD") or None,
                   admin_team=env.get("CRM_ADMIN_TEAM") or "hq",
                   admin_region=env.get("CRM_ADMIN_REGION") or "hq")

    def ensure_indexes(self) -> None:
        self.repository.ensure_indexes()

    def jobs(self) -> list[PeriodicJob]:
        """Old login attempts are swept by schedule (no TTL index: docs/database.md)."""
        return [PeriodicJob("forget-login-attempts", 600, self.repository.forget_attempts)]

    def start(self) -> None:
        """Indexes, then the first admin if CRM_ADMIN_PASSWORD is set and none exists."""
        self.ensure_indexes()
        username, password, team, region = self._admin
        self.handlers.bootstrap_admin(username, password, team=team, region=region)

    def listen(self, amqp_url: str, stop) -> UserEventsListener:
        """Forget cached callers on user.* and settings.updated events, in this process
        (a thread until `stop` is set)."""
        listener = UserEventsListener(amqp_url, self.callers)
        listener.start(stop)
        return listener

    def authenticate_forwarded(self, authorization: str | None, method: str,
                               path: str) -> ForwardedCaller:
        """For every request the gateway forwards: raises crmkit.errors (401/403) or
        returns the caller's identity and the internal token to send to the service.

        The identity carries the organisation's 上下级强制共享 as it stands now, so that
        every service's visibility rule (crmkit.visibility) follows an admin's change at
        once. What this builds is reused from `self.callers` while it holds (see
        gateway.identity.caller_cache for when it is forgotten)."""
        token = bearer_token(authorization)
        cached = self.callers.get(token)
        if cached is not None:
            return cached
        generation = self.callers.generation
        caller = self.handlers.authenticate(authorization, method=method, path=path)
        identity = caller.identity
        if self.settings is not None:
            identity = replace(identity, sees_subordinates=self.settings.sees_subordinates())
        forwarded = ForwardedCaller(identity, self.handlers.internal_token(caller, identity))
        if not caller.user.must_change_password:   # else what may pass depends on the path
            self.callers.put(token, caller.user.id, forwarded, caller.expires_at, generation)
        return forwarded
