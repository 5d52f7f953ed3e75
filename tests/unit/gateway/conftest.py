"""Shared fixtures for the gateway's identity unit tests (no servers)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from gateway.identity.domain import User


class FakeHasher:
    """A transparent stand-in for argon2, so domain tests run in microseconds."""

    def __init__(self, scheme: str = "v1"):
        self.scheme = scheme
        self.dummy_calls = 0

    def hash(self, password: str) -> str:
        return f"{self.scheme}${password[::-1]}"

    def verify(self, password_hash: str, password: str) -> bool:
        _, _, body = password_hash.partition("$")
        return body == password[::-1]

    def needs_rehash(self, password_hash: str) -> bool:
        return not password_hash.startswith(self.scheme + "$")

    def verify_dummy(self, password: str) -> None:
        self.dummy_calls += 1


NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def hasher():
    return FakeHasher()


@pytest.fixture
def make_user(hasher):
    def make(**overrides) -> User:
        fields = dict(username="zhang.san", name="张三", password="Initial#2026", role="rep",
                      team="east/shanghai/team-1", region="east", hasher=hasher, now=NOW)
        fields.update(overrides)
        return User.create(**fields)

    return make
