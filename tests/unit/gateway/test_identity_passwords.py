"""argon2id hashing behind the domain's hasher port."""
from __future__ import annotations

import pytest

from gateway.identity.passwords import Argon2Hasher


@pytest.fixture(scope="module")
def fast():
    return Argon2Hasher(fast=True)


def test_hash_is_argon2id_and_verifies(fast):
    hashed = fast.hash("Initial#2026")
    assert hashed.startswith("$argon2id$")
    assert "Initial#2026" not in hashed
    assert fast.verify(hashed, "Initial#2026")


def test_same_password_hashes_differently_each_time(fast):
    assert fast.hash("Initial#2026") != fast.hash("Initial#2026")


def test_wrong_password_does_not_verify(fast):
    assert fast.verify(fast.hash("Initial#2026"), "initial#2026") is False


@pytest.mark.parametrize("garbage", ["", "plain-text", "$argon2id$broken", None])
def test_a_malformed_stored_hash_never_verifies_nor_raises(fast, garbage):
    assert fast.verify(garbage, "Initial#2026") is False


def test_hash_made_with_other_costs_verifies_and_asks_for_a_rehash(fast):
    stronger = Argon2Hasher(time_cost=2, memory_cost=16, parallelism=1)
    hashed = stronger.hash("Initial#2026")
    assert fast.verify(hashed, "Initial#2026")
    assert fast.needs_rehash(hashed)
    assert not stronger.needs_rehash(hashed)


def test_an_unreadable_hash_needs_a_rehash(fast):
    assert fast.needs_rehash("plain-text")


def test_default_costs_are_argon2_cffi_defaults():
    from argon2 import PasswordHasher
    assert not Argon2Hasher().needs_rehash(PasswordHasher().hash("x" * 8))


def test_verify_dummy_spends_a_verification_and_returns_nothing(fast):
    assert fast.verify_dummy("anything") is None


def test_the_environment_tunes_the_cost_and_defaults_are_argon2s_own():
    tuned = Argon2Hasher.from_env({"CRM_ARGON2_TIME_COST": "2", "CRM_ARGON2_MEMORY_KIB": "16",
                                   "CRM_ARGON2_PARALLELISM": "1"})
    assert "$m=16,t=2,p=1$" in tuned.hash("Initial#2026")
    default = Argon2Hasher.from_env({}).hash("Initial#2026")
    assert "$m=65536,t=3,p=4$" in default
