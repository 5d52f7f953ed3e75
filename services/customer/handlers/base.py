"""What every customer use case stands on: the clock, loading with visibility, the
directory's users, and `change`, the one way a command changes a customer
(`crmkit.commands.CommandRunner`: load, If-Match, domain method, conditional save with
its events, bounded retry on a lost race, 409/412).

A command that loses a race is run again on fresh state, so the rules decide with what is
really there: of twenty concurrent claims one saves, the others re-run and meet
`already_claimed`. With an `If-Match` the caller asked for a specific version: a lost
race is then 412.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import date, datetime
from typing import Callable

from crmkit.clock import as_utc, local_date, utcnow, zone
from crmkit.commands import CommandRunner, Noun
from crmkit.context import current_correlation_id
from crmkit.errors import Invalid, NotFound
from crmkit.identity import Identity
from crmkit.visibility import Owner

from services.customer.access import HIDDEN, not_found, view
from services.customer.domain import Customer
from services.customer.repository import CustomerRepository

log = logging.getLogger(__name__)

PRODUCER = "customer"
NOUN = Noun("customer", "客户")
USER_WAIT_SECONDS = 3.0      # a user created a moment ago may not have reached our copy
# Waiting for such a user holds a thread: one request at a time may wait, and for at most
# USER_WAIT_SECONDS in all however many ids it names; the others fail fast (16 parallel
# bulk requests naming unknown ids once starved every worker, 3 s per id).
_user_waits = threading.BoundedSemaphore(1)
_wait_budget = threading.local()


def new_id() -> str:
    return uuid.uuid4().hex


def _wait_deadline() -> float:
    """Until when this request (its correlation id, on this thread) may still wait for
    users: one budget per request, however many ids it names."""
    request = current_correlation_id() or object()
    if getattr(_wait_budget, "request", None) != request:
        _wait_budget.request = request
        _wait_budget.deadline = time.monotonic() + USER_WAIT_SECONDS
    return _wait_budget.deadline


def match_summary(doc: dict) -> dict:
    """A customer named as a (likely) duplicate: who holds the name."""
    return {"id": doc["_id"], "number": doc.get("number"), "name": doc.get("name"),
            "claimed": doc.get("owner_id") is not None, "owner_id": doc.get("owner_id"),
            "owner_name": doc.get("owner_name")}


class HandlerBase:
    def __init__(self, repository: CustomerRepository, directory, *,
                 timezone: str = "Asia/Shanghai", clock: Callable[[], datetime] = utcnow,
                 org_settings=None, runs=None):
        self.repository = repository
        self.runs = runs   # crmkit.background.BackgroundRuns: imports run in the background
        self.directory = directory
        self.org_settings = org_settings   # crmkit.settings.OrgSettings: the dictionary
        self.tz = zone(timezone)
        self.clock = clock

    def now(self) -> datetime:
        return as_utc(self.clock())

    def today(self) -> date:
        return local_date(self.now(), self.tz)

    def require_dictionary(self, data: dict, parameters=None) -> None:
        """422 `not_in_dictionary` naming each field of a create or edit whose value the
        organisation's data dictionary refuses (an unset list: free text).
        `parameters`: the dictionary already read (an import checks every row against
        one reading)."""
        if self.org_settings is None:
            return
        checks = {name: (name, data[name]) for name in ("industry", "source", "tags")
                  if name in data}
        relations = [r.get("relation") for r in data.get("relations") or []
                     if isinstance(r, dict)]
        if relations:
            checks["relations"] = ("relation", relations)
        (parameters or self.org_settings.current()).require_choices(checks)

    # ---- loading

    def load(self, customer_id: str, *, with_seen_events: bool = False,
             with_interactions: bool = False) -> Customer:
        customer = self.repository.get(customer_id, with_seen_events=with_seen_events,
                                       with_interactions=with_interactions)
        if customer is None or customer.deleted:
            raise not_found()
        return customer

    def load_visible(self, customer_id: str, viewer: Identity) -> tuple[Customer, str]:
        customer = self.load(customer_id)
        seen = view(customer, viewer)
        if seen == HIDDEN:
            raise not_found()
        return customer, seen

    # ---- changing

    def change(self, customer_id: str, actor: Identity | None, action, *,
               expected_version: int | None = None, with_interactions: bool = False):
        """Run `action(customer)` on fresh state and save what it changed (its log
        entries and follow-ups too). Returns (customer, action's result).

        A caller who names a version and may not see the customer gets 404, not 412:
        the version must not tell them it exists. Without one, the domain decides what
        a hidden customer answers (a claim of someone else's customer is 409
        already_claimed)."""
        def load(customer_id: str) -> Customer:
            customer = self.load(customer_id, with_interactions=with_interactions)
            if expected_version is not None and actor is not None and \
                    view(customer, actor) == HIDDEN:
                raise not_found()
            return customer

        runner = CommandRunner(load=load, save=self.repository.save, producer=PRODUCER,
                               noun=NOUN)
        return runner.run(customer_id, action, actor_id=actor.user_id if actor else None,
                          expected_version=expected_version)

    def react(self, customer_id: str, event_id: str, action) -> None:
        """Apply a consumed event to one customer at most once: the customer knows the
        events it applied, and the save records this one in the same conditional write
        (`crmkit.bus.idempotent.apply_once`)."""
        runner = CommandRunner(
            load=lambda cid: self.load(cid, with_seen_events=True),
            save=lambda customer, loaded, envelopes: self.repository.save(
                customer, loaded, envelopes, seen_event=event_id),
            producer=PRODUCER, noun=NOUN)
        try:
            runner.run(customer_id, action, actor_id=None)
        except NotFound:
            log.info("event %s about unknown or deleted customer %s ignored", event_id,
                     customer_id)

    # ---- users of the directory

    def user(self, user_id: str, field: str = "user_id") -> dict:
        """An active user's profile from our copy of the directory (422 if unknown)."""
        profile = self.directory.get(user_id)
        if profile is None and _user_waits.acquire(blocking=False):
            try:
                deadline = _wait_deadline()
                while profile is None and time.monotonic() < deadline:
                    time.sleep(0.05)
                    profile = self.directory.get(user_id)
            finally:
                _user_waits.release()
        if profile is None:
            raise Invalid(field, "Unknown user. / 用户不存在。", code="unknown_user")
        if profile.get("active") is False:
            raise Invalid(field, "This user is inactive. / 该用户已停用。", code="inactive_user")
        return profile

    def owner(self, user_id: str, field: str = "user_id") -> tuple[Owner, str | None]:
        profile = self.user(user_id, field)
        return Owner(user_id, profile.get("team"), profile.get("region")), profile.get("name")
