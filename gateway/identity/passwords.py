"""Password hashing with argon2id (argon2-cffi), behind the domain's PasswordHasher port.

The defaults are argon2-cffi's (RFC 9106 low-memory profile). Tests pass `fast=True`
to drop the cost so a suite with hundreds of logins stays quick; hashes made with other
parameters still verify, and `needs_rehash` tells the domain to upgrade them at the next
successful login.
"""
from __future__ import annotations

from functools import cached_property

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# The cheapest parameters argon2 accepts that still exercise the real code path.
FAST_PARAMETERS = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}


class Argon2Hasher:
    def __init__(self, *, time_cost: int | None = None, memory_cost: int | None = None,
                 parallelism: int | None = None, fast: bool = False):
        params = dict(FAST_PARAMETERS) if fast else {}
        for name, value in (("time_cost", time_cost), ("memory_cost", memory_cost),
                            ("parallelism", parallelism)):
            if value is not None:
                params[name] = value
        self._argon2 = _Argon2(**params)

    @classmethod
    def from_env(cls, env) -> "Argon2Hasher":
        """argon2-cffi's defaults, unless CRM_ARGON2_TIME_COST / CRM_ARGON2_MEMORY_KIB /
        CRM_ARGON2_PARALLELISM tune them to the hardware (the test suite makes them cheap:
        it signs hundreds of users in)."""
        def number(name: str) -> int | None:
            value = env.get(name)
            return int(value) if value else None
        return cls(time_cost=number("CRM_ARGON2_TIME_COST"),
                   memory_cost=number("CRM_ARGON2_MEMORY_KIB"),
                   parallelism=number("CRM_ARGON2_PARALLELISM"))

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        if not isinstance(password_hash, str) or not isinstance(password, str):
            return False
        try:
            return self._argon2.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False
        except (TypeError, ValueError):  # a hash written by something other than argon2
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        if not isinstance(password_hash, str):
            return True
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except (InvalidHashError, TypeError, ValueError):
            return True

    @cached_property
    def _dummy_hash(self) -> str:
        return self._argon2.hash("not-a-real-password")

    def verify_dummy(self, password: str) -> None:
        """Spend one verification's time, so unknown usernames answer as slowly."""
        self.verify(self._dummy_hash, password)
