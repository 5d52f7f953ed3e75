"""Bearer tokens: the gateway issues them, every service checks them itself.

Two audiences:
- access tokens (aud "crm") go to clients after login;
- internal tokens (aud "crm-service", short-lived) are minted by the gateway for each
  forwarded request from the user's *current* record, so a role, team or deactivation
  change takes effect at once. A service accepts only internal tokens: a bare identity
  header, or a client's own access token sent straight to a service, is refused.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict

import jwt

from crmkit.errors import Unauthorized
from crmkit.identity import Identity

ACCESS_AUDIENCE = "crm"
INTERNAL_AUDIENCE = "crm-service"
ISSUER = "crm-gateway"
ALGORITHM = "HS256"
# Internal tokens a process verified, remembered until their `exp`: the gateway forwards
# one per caller for a few seconds (gateway.identity.caller_cache), so a service checks
# the signature once per caller rather than once per request. Bounded: emptied when full.
VERIFIED_MEMO_SIZE = 4096


class TokenService:
    def __init__(self, secret: str, *, access_ttl: int = 3600, internal_ttl: int = 120):
        if not secret or len(secret) < 32:
            raise ValueError("the token secret must have at least 32 characters")
        self._secret = secret
        self.access_ttl = access_ttl
        self.internal_ttl = internal_ttl
        self._verified: dict[str, tuple[Identity, float]] = {}

    def issue_access(self, user_id: str, *, session_version: int = 0) -> tuple[str, int]:
        """A client token naming the user only: identity is re-read on every request."""
        now = int(time.time())
        claims = {"sub": user_id, "aud": ACCESS_AUDIENCE, "iss": ISSUER, "iat": now,
                  "exp": now + self.access_ttl, "jti": uuid.uuid4().hex,
                  "sv": session_version}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM), self.access_ttl

    def verify_access(self, token: str) -> dict:
        return self._decode(token, ACCESS_AUDIENCE)

    def issue_internal(self, identity: Identity) -> str:
        now = int(time.time())
        claims = {"sub": identity.user_id, "aud": INTERNAL_AUDIENCE, "iss": ISSUER,
                  "iat": now, "exp": now + self.internal_ttl, "idn": asdict(identity)}
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify_internal(self, token: str) -> Identity:
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        claims = self._decode(token, INTERNAL_AUDIENCE)
        try:
            identity = Identity(**claims["idn"])
        except (KeyError, TypeError):
            raise Unauthorized("Malformed token.", code="invalid_token") from None
        if len(self._verified) >= VERIFIED_MEMO_SIZE:
            self._verified.clear()
        self._verified[token] = (identity, claims["exp"])
        return identity

    def _decode(self, token: str, audience: str) -> dict:
        try:
            return jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=audience,
                              issuer=ISSUER, options={"require": ["exp", "iat", "sub"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("The token has expired.", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("The token is not valid.", code="invalid_token") from None


def bearer_token(authorization_header: str | None) -> str:
    if not authorization_header:
        raise Unauthorized("Authentication required.", code="unauthenticated")
    scheme, _, token = authorization_header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Use 'Authorization: Bearer <token>'.", code="invalid_token")
    return token.strip()
