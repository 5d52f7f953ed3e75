"""Identity inside the gateway: users, passwords, login throttling, the authenticator.

The gateway owns the identity data. Services never read it: they receive a short-lived
internal token minted from the caller's *current* user record on every forwarded
request (see crmkit.auth), and other systems follow users through `user.*` events.
"""
