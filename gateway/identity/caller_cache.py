"""What the gateway remembers per process about the callers it forwards, so that a
request does not pay a user read, a settings read and an internal token signing each.

    cache = CallerCache(ttl=5.0)
    caller = cache.get(access_token)                  # a ForwardedCaller, or None
    generation = cache.generation                     # before reading the user
    ...authenticate, mint the internal token...
    cache.put(access_token, user_id, caller, token_expires_at, generation)

An entry is keyed by the exact access token it was built for (so only a token that was
fully verified once is ever matched) and lives at most `ttl` seconds, never past the
token's own expiry, and never past half the internal token's lifetime (the internal
token it holds must still have time to travel). It is dropped at once:

- when this process sees a `user.created` / `user.updated` event for that user (every
  gateway process consumes them on a queue of its own: UserEventsListener), or a
  `settings.updated` (上下级强制共享 is part of every forwarded identity): everything;
- when this process itself changed the user (a password change or an admin's reset
  revokes sessions without any event) or the settings;
- everything, whenever the listener (re)connects: events published while it was away
  are lost with its exclusive queue.

What another process changed without an event (a password change, an admin's password
reset) reaches this one within `ttl`: that is the bound docs/gateway-caching.md states.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Callable

from crmkit.bus.consumer import EventConsumer, Subscriptions
from crmkit.bus.topology import declare_exchanges, events_exchange
from crmkit.identity import Identity

log = logging.getLogger(__name__)

DEFAULT_TTL_S = 5.0
MAX_ENTRIES = 20_000     # ~1 KB each: a bounded few MB per process at 2,000 users


@dataclass(frozen=True)
class ForwardedCaller:
    identity: Identity
    internal_token: str


@dataclass(frozen=True)
class _Entry:
    user_id: str
    caller: ForwardedCaller
    expires_at: float        # on the cache's (monotonic) clock


class CallerCache:
    def __init__(self, *, ttl: float = DEFAULT_TTL_S, max_entries: int = MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time):
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock, self._wall_clock = clock, wall_clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        # Raised by every forget: an entry built from a read that began before a forget
        # is not stored (it may hold what the forget was about).
        self.generation = 0

    @classmethod
    def from_env(cls, internal_ttl: int, env=None) -> "CallerCache":
        """CRM_GATEWAY_CALLER_CACHE_S (default 5; 0 turns the cache off), capped at half
        the internal token's lifetime."""
        env = os.environ if env is None else env
        ttl = float(env.get("CRM_GATEWAY_CALLER_CACHE_S") or DEFAULT_TTL_S)
        return cls(ttl=max(0.0, min(ttl, internal_ttl / 2)))

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, access_token: str) -> ForwardedCaller | None:
        entry = self._entries.get(access_token)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            with self._lock:
                if self._entries.get(access_token) is entry:
                    del self._entries[access_token]
            return None
        return entry.caller

    def put(self, access_token: str, user_id: str, caller: ForwardedCaller,
            token_expires_at: float | None, generation: int) -> None:
        """`token_expires_at`: the access token's `exp` (seconds since the epoch);
        `generation`: `self.generation` as read before the user was loaded."""
        if self.ttl <= 0:
            return
        now = self._clock()
        lifetime = self.ttl
        if token_expires_at is not None:
            lifetime = min(lifetime, token_expires_at - self._wall_clock())
        if lifetime <= 0:
            return
        with self._lock:
            if generation != self.generation:
                return
            if len(self._entries) >= self.max_entries:
                self._evict(now)
            self._entries[access_token] = _Entry(user_id, caller, now + lifetime)

    def _evict(self, now: float) -> None:
        """Drop the expired, then the oldest half (dicts keep insertion order)."""
        for token in [t for t, e in self._entries.items() if e.expires_at <= now]:
            del self._entries[token]
        if len(self._entries) >= self.max_entries:
            for token in list(self._entries)[:len(self._entries) // 2]:
                del self._entries[token]

    def forget_user(self, user_id: str) -> None:
        with self._lock:
            self.generation += 1
            for token in [t for t, e in self._entries.items() if e.user_id == user_id]:
                del self._entries[token]

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


USER_EVENTS = ("user.created", "user.updated")
SETTINGS_EVENTS = ("settings.updated",)


def cache_subscriptions(cache: CallerCache) -> Subscriptions:
    subscriptions = Subscriptions()
    for event_type in USER_EVENTS:
        subscriptions.on(event_type)(lambda envelope: cache.forget_user(envelope["data"]["id"]))
    for event_type in SETTINGS_EVENTS:
        subscriptions.on(event_type)(lambda envelope: cache.clear())
    return subscriptions


class UserEventsListener(EventConsumer):
    """The user.* and settings.updated events, for this process alone: a server-side
    exclusive, auto-deleted queue of its own bound to crm.events (every gateway process
    must see every event, unlike a service's replicas, which compete on one queue).

    Nothing is retried or parked: a delivery that cannot be handled, like a reconnect
    (the queue and whatever it held are gone), empties the whole cache instead."""

    def __init__(self, url: str, cache: CallerCache, *, service: str = "gateway"):
        super().__init__(url, service, cache_subscriptions(cache), prefetch=64)
        self.cache = cache
        self.queue_name = (f"crm.{service}.callers.{os.uname().nodename}.{os.getpid()}."
                           f"{uuid.uuid4().hex[:8]}")

    def _declared_queue(self):
        from kombu import Queue, binding

        keys = sorted(self.subscriptions.routing_keys)
        return Queue(self.queue_name, bindings=[binding(events_exchange, routing_key=key)
                                                for key in keys],
                     durable=False, exclusive=True, auto_delete=True)

    def declare(self, connection) -> None:
        declare_exchanges(connection)
        self._declared_queue()(connection.default_channel).declare()
        self.cache.clear()   # whatever happened before this queue existed is unknown

    def queue(self):
        return self._declared_queue()

    def _retry_or_park(self, message, attempts: int, error: Exception, *,
                       park: bool = False) -> str:
        log.warning("gateway caller cache: %s not handled (%r); forgetting every caller",
                    message.properties.get("message_id"), error)
        self.cache.clear()
        return "parked"

    def start(self, stop: threading.Event) -> threading.Thread:
        """Consume in a thread of its own until `stop` is set (or `self.stop()`)."""
        self._stop = stop
        self.thread = threading.Thread(target=self.run, args=(stop,), daemon=True,
                                       name="gateway-caller-cache-listener")
        self.thread.start()
        return self.thread

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.thread.join(timeout)
