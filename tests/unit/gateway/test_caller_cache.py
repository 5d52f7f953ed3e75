"""The gateway's per-process cache of forwarded callers: lifetime, invalidation, races."""
from __future__ import annotations

from crmkit.identity import Identity
from gateway.identity.caller_cache import CallerCache, ForwardedCaller, cache_subscriptions


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def caller(user_id="u1", role="rep") -> ForwardedCaller:
    return ForwardedCaller(Identity(user_id, user_id, user_id, role, "east/a", "east"),
                           f"internal-{user_id}")


def make(ttl=5.0, **kwargs):
    clock = Clock()
    return CallerCache(ttl=ttl, clock=clock, wall_clock=clock, **kwargs), clock


def test_an_entry_lives_for_the_ttl_only():
    cache, clock = make()
    cache.put("t1", "u1", caller(), None, cache.generation)
    assert cache.get("t1") == caller()
    clock.now += 4.9
    assert cache.get("t1") == caller()
    clock.now += 0.2
    assert cache.get("t1") is None
    assert len(cache) == 0


def test_an_entry_never_outlives_its_access_token():
    cache, clock = make()
    cache.put("t1", "u1", caller(), clock.now + 2, cache.generation)
    clock.now += 2.1
    assert cache.get("t1") is None
    cache.put("expired", "u1", caller(), clock.now - 1, cache.generation)
    assert cache.get("expired") is None


def test_only_the_exact_token_matches():
    cache, _ = make()
    cache.put("t1", "u1", caller(), None, cache.generation)
    assert cache.get("t1x") is None and cache.get("t") is None


def test_forgetting_a_user_drops_every_token_of_theirs_only():
    cache, _ = make()
    generation = cache.generation
    cache.put("phone", "u1", caller(), None, generation)
    cache.put("laptop", "u1", caller(), None, generation)
    cache.put("other", "u2", caller("u2"), None, generation)
    cache.forget_user("u1")
    assert cache.get("phone") is None and cache.get("laptop") is None
    assert cache.get("other") == caller("u2")


def test_a_read_begun_before_a_forget_is_not_stored():
    """A request that loaded the user before an event arrived must not put the stale
    record back after the event emptied the cache."""
    cache, _ = make()
    generation = cache.generation          # the request starts reading the user...
    cache.forget_user("u1")                # ...the user.updated event lands meanwhile
    cache.put("t1", "u1", caller(), None, generation)
    assert cache.get("t1") is None
    cache.put("t1", "u1", caller(), None, cache.generation)
    assert cache.get("t1") is not None


def test_a_ttl_of_zero_turns_the_cache_off():
    cache, _ = make(ttl=0)
    cache.put("t1", "u1", caller(), None, cache.generation)
    assert cache.get("t1") is None


def test_the_ttl_stays_below_half_the_internal_token_lifetime():
    assert CallerCache.from_env(120, {}).ttl == 5.0
    assert CallerCache.from_env(120, {"CRM_GATEWAY_CALLER_CACHE_S": "600"}).ttl == 60
    assert CallerCache.from_env(120, {"CRM_GATEWAY_CALLER_CACHE_S": "0"}).ttl == 0


def test_the_cache_stays_bounded():
    cache, _ = make(max_entries=10)
    for number in range(25):
        cache.put(f"t{number}", f"u{number}", caller(f"u{number}"), None, cache.generation)
    assert len(cache) <= 10
    assert cache.get("t24") is not None      # the newest stays


def test_user_events_forget_that_user_and_settings_events_everyone():
    cache, _ = make()
    subscriptions = cache_subscriptions(cache)
    cache.put("t1", "u1", caller(), None, cache.generation)
    cache.put("t2", "u2", caller("u2"), None, cache.generation)
    subscriptions.handler_for("user.updated")({"type": "user.updated", "data": {"id": "u1"}})
    assert cache.get("t1") is None and cache.get("t2") is not None
    subscriptions.handler_for("settings.updated")({"type": "settings.updated", "data": {}})
    assert cache.get("t2") is None
    assert sorted(subscriptions.routing_keys) == ["settings.updated", "user.created",
                                                  "user.updated"]
