"""Bearer tokens: a client's access token and the gateway's internal token are not
interchangeable, expire, and cannot be altered."""
from __future__ import annotations

import base64
import json

import jwt
import pytest

from crmkit.auth import TokenService, bearer_token
from crmkit.errors import Unauthorized
from crmkit.identity import Identity

SECRET = "kernel-unit-test-secret-" + "s" * 20
ALICE = Identity(user_id="u1", username="alice", name="Alice", role="supervisor",
                 team="east/sh", region="east")


@pytest.fixture
def tokens():
    return TokenService(SECRET)


def test_access_token_round_trip(tokens):
    token, ttl = tokens.issue_access("u1", session_version=3)
    claims = tokens.verify_access(token)
    assert claims["sub"] == "u1" and claims["sv"] == 3 and ttl == tokens.access_ttl


def test_internal_token_carries_the_identity(tokens):
    assert tokens.verify_internal(tokens.issue_internal(ALICE)) == ALICE


def test_an_access_token_is_not_accepted_as_an_internal_one(tokens):
    # A client sending its own token straight to a service must be refused.
    token, _ = tokens.issue_access("u1")
    with pytest.raises(Unauthorized) as raised:
        tokens.verify_internal(token)
    assert raised.value.code == "invalid_token"


def test_an_internal_token_is_not_accepted_as_an_access_one(tokens):
    with pytest.raises(Unauthorized) as raised:
        tokens.verify_access(tokens.issue_internal(ALICE))
    assert raised.value.code == "invalid_token"


def test_expired_tokens_are_refused(tokens):
    expired = TokenService(SECRET, access_ttl=-5, internal_ttl=-5)
    access, _ = expired.issue_access("u1")
    with pytest.raises(Unauthorized) as raised:
        tokens.verify_access(access)
    assert raised.value.code == "token_expired"
    with pytest.raises(Unauthorized) as raised:
        tokens.verify_internal(expired.issue_internal(ALICE))
    assert raised.value.code == "token_expired"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_tampered_payload_is_refused(tokens):
    header, payload, signature = tokens.issue_internal(ALICE).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["idn"]["role"] = "admin"  # promote oneself, keep the old signature
    with pytest.raises(Unauthorized) as raised:
        tokens.verify_internal(".".join([header, _b64(claims), signature]))
    assert raised.value.code == "invalid_token"


def test_a_token_signed_with_another_secret_is_refused(tokens):
    other = TokenService("another-secret-of-enough-length-" + "o" * 10)
    with pytest.raises(Unauthorized):
        tokens.verify_internal(other.issue_internal(ALICE))


def test_an_unsigned_token_is_refused(tokens):
    forged = jwt.encode({"sub": "u1", "aud": "crm-service", "iss": "crm-gateway",
                         "iat": 1, "exp": 2 ** 40, "idn": {}}, key=None, algorithm="none")
    with pytest.raises(Unauthorized):
        tokens.verify_internal(forged)


def test_an_internal_token_without_an_identity_is_refused(tokens):
    token = jwt.encode({"sub": "u1", "aud": "crm-service", "iss": "crm-gateway", "iat": 1,
                        "exp": 2 ** 40, "idn": {"user_id": "u1"}}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized) as raised:
        tokens.verify_internal(token)
    assert raised.value.code == "invalid_token"


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError):
        TokenService("too-short")


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_bearer_header_must_name_a_token(header):
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_bearer_header_gives_the_token():
    assert bearer_token("bearer  abc.def ") == "abc.def"


def test_a_verified_internal_token_is_remembered_until_it_expires(monkeypatch):
    """The memo never outlives the token, and never admits a token it did not verify."""
    import time as clock

    from crmkit import auth

    tokens = TokenService(SECRET, internal_ttl=60)
    identity = Identity("u1", "zhang.san", "张三", "rep", "east/a", "east")
    token = tokens.issue_internal(identity)
    assert tokens.verify_internal(token) == identity
    assert tokens.verify_internal(token) == identity          # from the memo
    with pytest.raises(Unauthorized):
        tokens.verify_internal(token[:-2] + "xx")              # a forged signature
    later = clock.time() + 61                                  # past its exp: checked again
    monkeypatch.setattr(auth.time, "time", lambda: later)
    checked = []

    def decode_as_expired(*args):
        checked.append(args)
        raise Unauthorized("The token has expired.", code="token_expired")

    monkeypatch.setattr(tokens, "_decode", decode_as_expired)
    with pytest.raises(Unauthorized) as expired:
        tokens.verify_internal(token)
    assert expired.value.code == "token_expired" and checked
