"""The login rate-limit policy, pure: a decision over stored attempt records.

Attempts are kept by the repository (MongoDB, so every gateway replica sees the same
counts); this module only says which records to write and whether a new login attempt
may go ahead. Two counters:

- per username: `max_failures` failed logins within `window` block further attempts on
  that username; a successful login resets it (failures before it no longer count).
- per client IP: the same idea with a much higher limit (a whole office may sit behind
  one address), against one source guessing across many usernames; success does *not* reset it, or one valid account would let an
  attacker go on guessing other users' passwords from the same address.

While blocked, attempts are answered 429 without checking the password and are not
recorded, so waiting out `Retry-After` always works. A wrong current password on the
password change counts as a failed login of that user (IdentityHandlers.change_password).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from crmkit.errors import TooManyRequests

USER_PREFIX = "user:"
IP_PREFIX = "ip:"


@dataclass(frozen=True)
class Attempt:
    key: str           # "user:<username key>" or "ip:<address>"
    at: datetime       # timezone-aware UTC
    succeeded: bool


@dataclass(frozen=True)
class Limit:
    max_failures: int
    window: timedelta
    reset_on_success: bool


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0      # whole seconds, >= 1 when blocked
    key: str | None = None    # which counter blocked

    def raise_if_blocked(self) -> None:
        if not self.allowed:
            raise TooManyRequests(
                f"密码错误次数过多，请 {self.retry_after} 秒后再试 / Too many wrong "
                f"passwords; try again in {self.retry_after} seconds.",
                code="too_many_login_attempts", retry_after=self.retry_after,
                headers={"Retry-After": str(self.retry_after)})


class LoginThrottle:
    def __init__(self, *, per_username: Limit | None = None, per_ip: Limit | None = None):
        self.per_username = per_username or Limit(5, timedelta(minutes=5), True)
        self.per_ip = per_ip or Limit(100, timedelta(minutes=5), False)

    @classmethod
    def from_env(cls, env) -> "LoginThrottle":
        """CRM_LOGIN_MAX_FAILURES (5), CRM_LOGIN_IP_MAX_FAILURES (100) and
        CRM_LOGIN_WINDOW_SECONDS (300) tune the two counters."""
        window = timedelta(seconds=int(env.get("CRM_LOGIN_WINDOW_SECONDS") or 300))
        return cls(per_username=Limit(int(env.get("CRM_LOGIN_MAX_FAILURES") or 5), window, True),
                   per_ip=Limit(int(env.get("CRM_LOGIN_IP_MAX_FAILURES") or 100), window, False))

    # -- which counters apply ------------------------------------------------------

    def keys(self, username_key: str, client_ip: str | None) -> dict[str, Limit]:
        keys = {USER_PREFIX + username_key: self.per_username}
        if client_ip:
            keys[IP_PREFIX + client_ip] = self.per_ip
        return keys

    def horizon(self, now: datetime) -> datetime:
        """Records older than this can no longer matter: the repository may drop them."""
        return now - max(self.per_username.window, self.per_ip.window)

    @property
    def retention(self) -> timedelta:
        return max(self.per_username.window, self.per_ip.window)

    # -- the decision ----------------------------------------------------------------

    def decide(self, username_key: str, client_ip: str | None,
               attempts: Iterable[Attempt], now: datetime) -> Decision:
        by_key: dict[str, list[Attempt]] = {}
        for attempt in attempts:
            by_key.setdefault(attempt.key, []).append(attempt)
        blocked = [
            (wait, key)
            for key, limit in self.keys(username_key, client_ip).items()
            if (wait := self._wait(limit, by_key.get(key, ()), now)) > 0
        ]
        if not blocked:
            return Decision(True)
        wait, key = max(blocked)
        return Decision(False, retry_after=wait, key=key)

    @staticmethod
    def _wait(limit: Limit, attempts: Iterable[Attempt], now: datetime) -> int:
        """Seconds until this counter falls below its limit again (0 = not blocked)."""
        start = now - limit.window
        if limit.reset_on_success:
            successes = [a.at for a in attempts if a.succeeded and a.at > start]
            if successes:
                start = max(successes)
        failures = sorted(a.at for a in attempts
                          if not a.succeeded and start < a.at <= now)
        if len(failures) < limit.max_failures:
            return 0
        # Once the oldest failures that keep the count at the limit leave the window,
        # one more attempt is allowed.
        frees_at = failures[len(failures) - limit.max_failures] + limit.window
        return max(1, math.ceil((frees_at - now).total_seconds()))

    # -- what to record ---------------------------------------------------------------

    def failure(self, username_key: str, client_ip: str | None, now: datetime) -> list[Attempt]:
        return [Attempt(key, now, False) for key in self.keys(username_key, client_ip)]

    def success(self, username_key: str, client_ip: str | None, now: datetime) -> list[Attempt]:
        """Only counters that a success resets need to remember it."""
        return [Attempt(key, now, True)
                for key, limit in self.keys(username_key, client_ip).items()
                if limit.reset_on_success]
