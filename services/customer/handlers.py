"""Customer use cases: load, apply the domain rules, save state + log + events at once.

A command that loses a race (its conditional update finds a newer version) is run
again on fresh state, so the rules decide with what is really there: of twenty
concurrent claims one saves, the others re-run and meet `already_claimed`. With an
`If-Match` the caller asked for a specific version: a lost race is then 412.
"""
from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Callable

from crmkit.clock import as_utc, local_date, utcnow, zone
from crmkit.context import current_correlation_id
from crmkit.errors import (Conflict, DomainError, Forbidden, Invalid, NotFound,
                           PreconditionFailed, VersionConflict)
from crmkit.events import to_envelopes
from crmkit.identity import Identity
from crmkit.pagination import sort_spec
from crmkit.scheduling import Lease
from crmkit.visibility import Owner

from services.customer import fields as F
from services.customer import naming, numbering, reclaim, transfer
from services.customer.domain import (HIDDEN, MANAGER_FIELDS, Customer,
                                      fields_not_allowed,
                                      require_may_set, view)
from services.customer.repository import (PUBLIC_SORTABLE, SORTABLE, CustomerRepository,
                                          combine, customer_filter, scope_filter)

log = logging.getLogger(__name__)

PRODUCER = "customer"
MAX_ATTEMPTS = 30
USER_WAIT_SECONDS = 3.0      # a user created a moment ago may not have reached our copy
# Waiting for such a user holds a thread: one request at a time may wait, and for at most
# USER_WAIT_SECONDS in all however many ids it names; the others fail fast (16 parallel
# bulk requests naming unknown ids once starved every worker, 3 s per id).
_user_waits = threading.BoundedSemaphore(1)
EXPORT_LIMIT = 100_000
IMPORT_CHUNK = 250           # customers whose events share one outbox document


def new_id() -> str:
    return uuid.uuid4().hex


def _sort(sort: str | None, sortable: dict = SORTABLE) -> list[tuple[str, int]]:
    spec = sort_spec(sort, sortable, "-created_at")
    field, direction = spec[0]
    return [(sortable[field], direction), ("_id", direction)]


_wait_budget = threading.local()


def _wait_deadline() -> float:
    """Until when this request (its correlation id, on this thread) may still wait for
    users: one budget per request, however many ids it names."""
    request = current_correlation_id() or object()
    if getattr(_wait_budget, "request", None) != request:
        _wait_budget.request = request
        _wait_budget.deadline = time.monotonic() + USER_WAIT_SECONDS
    return _wait_budget.deadline


class CustomerHandlers:
    def __init__(self, repository: CustomerRepository, directory, *,
                 timezone: str = "Asia/Shanghai", clock: Callable[[], datetime] = utcnow):
        self.repository = repository
        self.directory = directory
        self.tz = zone(timezone)
        self.clock = clock

    # ------------------------------------------------------------------ helpers

    def now(self) -> datetime:
        return as_utc(self.clock())

    def today(self) -> date:
        return local_date(self.now(), self.tz)

    def load(self, customer_id: str) -> Customer:
        customer = self.repository.get(customer_id)
        if customer is None or customer.deleted:
            raise NotFound("Customer not found. / 客户不存在。", code="not_found")
        return customer

    def load_visible(self, customer_id: str, viewer: Identity) -> tuple[Customer, str]:
        customer = self.load(customer_id)
        seen = view(customer, viewer)
        if seen == HIDDEN:
            raise NotFound("Customer not found. / 客户不存在。", code="not_found")
        return customer, seen

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

    def _owner(self, user_id: str, field: str = "user_id") -> tuple[Owner, str | None]:
        profile = self.user(user_id, field)
        return Owner(user_id, profile.get("team"), profile.get("region")), profile.get("name")

    def _save_new(self, customer: Customer, actor_id: str | None) -> None:
        self.repository.insert(customer, to_envelopes(customer.events, producer=PRODUCER,
                                                      actor_id=actor_id))

    def change(self, customer_id: str, actor: Identity | None, action, *,
               expected_version: int | None = None):
        """Run `action(customer)` on fresh state and save it; again if a race was lost.
        Returns (customer, action's result)."""
        for attempt in range(MAX_ATTEMPTS):
            customer = self.load(customer_id)
            if expected_version is not None and customer.version != expected_version:
                if actor is not None and view(customer, actor) == HIDDEN:
                    raise NotFound("Customer not found. / 客户不存在。", code="not_found")
                raise PreconditionFailed(
                    f"The customer changed (version {customer.version}); reload it. "
                    "/ 客户已被修改,请刷新。", code="stale_version")
            result = action(customer)
            if not customer.events and not customer.log:
                return customer, result  # nothing changed: nothing to write
            envelopes = to_envelopes(customer.events, producer=PRODUCER,
                                     actor_id=actor.user_id if actor else None)
            try:
                self.repository.save(customer, envelopes)
                return customer, result
            except VersionConflict:
                if expected_version is not None:
                    raise PreconditionFailed("The customer changed meanwhile; reload it. "
                                             "/ 客户已被修改,请刷新。",
                                             code="stale_version") from None
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise Conflict("The customer is being changed by others; try again. "
                       "/ 客户正被他人修改,请重试。", code="version_conflict")

    # ------------------------------------------------------------------ create / read / edit

    def create_customer(self, command: dict, actor: Identity) -> Customer:
        command = dict(command)
        in_pool = bool(command.pop("in_pool", False))
        owner_id = command.pop("owner_id", None)
        require_may_set(actor, command)  # refuse before using a number
        F.clean_customer(command, partial=False)
        owner, owner_name = None, None
        if owner_id is not None:
            if in_pool:
                raise Invalid("owner_id", "Give either owner_id or in_pool, not both.")
            if owner_id == actor.user_id:
                owner, owner_name = Owner(actor.user_id, actor.team, actor.region), actor.name
            elif not actor.at_least("supervisor"):
                raise Forbidden("Only a supervisor or above may create a customer for "
                                "someone else. / 只有主管及以上可以为他人新建客户。")
            else:
                owner, owner_name = self._owner(owner_id, "owner_id")
        normalized = naming.normalize_name(command["name"])
        self._refuse_duplicate(normalized, None)
        now = self.now()
        day = numbering.number_day(now, self.tz)
        number = numbering.format_number(day, self.repository.next_serials(
            numbering.day_key(day)))
        customer = Customer.create(actor, command, customer_id=number, number=number,
                                   contact_id=new_id(), now=now, in_pool=in_pool,
                                   owner=owner, owner_name=owner_name)
        self._reserve(normalized, customer.id)
        try:
            self._save_new(customer, actor.user_id)
        except Exception:
            self.repository.release_name(normalized, customer.id)
            raise
        return customer

    def _refuse_duplicate(self, normalized: str, own_id: str | None) -> None:
        holders = self.repository.name_holders([normalized])
        holder = holders.get(normalized)
        if holder and holder != own_id:
            self._duplicate(holder)

    def _reserve(self, normalized: str, customer_id: str) -> None:
        holder = self.repository.reserve_name(normalized, customer_id, self.now())
        if holder:
            self._duplicate(holder)

    def _duplicate(self, holder_id: str):
        matches = [match_summary(d) for d in self.repository.find_by_ids([holder_id])] or [
            {"id": holder_id}]
        raise Conflict("A customer with this name already exists. / 已存在同名客户。",
                       code="duplicate_customer", matches=matches)

    def get_customer(self, customer_id: str, viewer: Identity) -> tuple[Customer, str]:
        return self.load_visible(customer_id, viewer)

    def update_customer(self, customer_id: str, data: dict, actor: Identity, *,
                        expected_version: int | None = None) -> Customer:
        renamed: dict = {}

        def edit(customer: Customer):
            old = naming.normalize_name(customer.name)
            if "name" in data and isinstance(data["name"], str) and customer.can_edit(actor):
                new = naming.normalize_name(data["name"])
                if new != old:
                    self._refuse_duplicate(new, customer.id)
                    self._reserve(new, customer.id)
                    renamed.update(old=old, new=new)
            customer.update(actor, data, now=self.now())

        try:
            customer, _ = self.change(customer_id, actor, edit, expected_version=expected_version)
        except Exception:
            if renamed:
                self.repository.release_name(renamed["new"], customer_id)
            raise
        if renamed:
            self.repository.release_name(renamed["old"], customer_id)
        return customer

    def history(self, customer_id: str, viewer: Identity) -> list[dict]:
        customer, seen = self.load_visible(customer_id, viewer)
        self._require_full(seen)
        return self.repository.history(customer_id)

    @staticmethod
    def _require_full(seen: str) -> None:
        if seen != "full":
            raise Forbidden("This customer is in the pool: only its public view is shown; "
                            "claim it first. / 客户池中的客户只能查看公开信息,请先领用。")

    # ------------------------------------------------------------------ pool actions

    def claim(self, customer_id: str, actor: Identity) -> Customer:
        rules, _ = self.repository.get_rules()
        lease = None
        if rules.claim_limit is not None:
            # One claim at a time per user, so two concurrent claims cannot both pass
            # the limit check.
            lease = Lease(self.repository.locks, f"claim:{actor.user_id}",
                          ttl=timedelta(seconds=10), holder=new_id())
            deadline = time.monotonic() + 5
            while not lease.acquire():
                if time.monotonic() > deadline:
                    raise Conflict("Another claim of yours is in progress; try again.",
                                   code="version_conflict")
                time.sleep(0.01)
        try:
            def do(customer: Customer):
                owned = (self.repository.owned_count(actor.user_id)
                         if rules.claim_limit is not None else 0)
                customer.claim(actor, rules=rules, owned_count=owned, now=self.now())
            customer, _ = self.change(customer_id, actor, do)
            return customer
        finally:
            if lease is not None:
                lease.release()

    def return_customer(self, customer_id: str, actor: Identity, reason=None) -> Customer:
        return self.change(customer_id, actor, lambda c: c.return_to_pool(
            actor, reason=reason, now=self.now()))[0]

    def recover(self, customer_id: str, actor: Identity, reason=None) -> Customer:
        return self.change(customer_id, actor, lambda c: c.recover(
            actor, reason=reason, now=self.now()))[0]

    def assign(self, customer_id: str, actor: Identity, user_id: str) -> Customer:
        customer, _ = self.load_visible(customer_id, actor)  # 404 before "unknown user"
        owner, name = self._owner(user_id)
        return self.change(customer_id, actor, lambda c: c.assign(
            actor, owner, name, now=self.now()))[0]

    def share(self, customer_id: str, actor: Identity, user_ids: list[str]) -> Customer:
        self.load_visible(customer_id, actor)
        for user_id in dict.fromkeys(user_ids):
            self.user(user_id, "user_ids")
        return self.change(customer_id, actor, lambda c: c.share(
            actor, user_ids, now=self.now()))[0]

    def unshare(self, customer_id: str, actor: Identity, user_id: str) -> Customer:
        return self.change(customer_id, actor, lambda c: c.unshare(
            actor, user_id, now=self.now()))[0]

    def delete(self, customer_id: str, actor: Identity) -> Customer:
        customer, _ = self.change(customer_id, actor, lambda c: c.delete(
            actor, now=self.now()))
        self.repository.release_name(naming.normalize_name(customer.name), customer.id)
        return customer

    def bulk(self, action: str, ids: list[str], actor: Identity, user_ids=None,
             reason=None) -> list[dict]:
        """Each id on its own; `assign` over several users deals the ids round-robin."""
        if action in ("assign", "share") and not user_ids:
            raise Invalid("user_ids", "Required for assign and share. / 指派和共享需要 user_ids。")
        results = []
        for position, customer_id in enumerate(dict.fromkeys(ids)):
            try:
                if action == "claim":
                    self.claim(customer_id, actor)
                elif action == "return":
                    self.return_customer(customer_id, actor, reason)
                elif action == "recover":
                    self.recover(customer_id, actor, reason)
                elif action == "assign":
                    self.assign(customer_id, actor, user_ids[position % len(user_ids)])
                elif action == "share":
                    self.share(customer_id, actor, user_ids)
                elif action == "delete":
                    self.delete(customer_id, actor)
                else:
                    raise Invalid("action", "Unknown action.")
                item = {"id": customer_id, "ok": True}
                if action == "assign":
                    item["user_id"] = user_ids[position % len(user_ids)]
                results.append(item)
            except DomainError as error:
                results.append({"id": customer_id, "ok": False, "code": error.code,
                                "detail": error.detail})
        return results

    # ------------------------------------------------------------------ lists

    def _scoped_clauses(self, query: dict, viewer: Identity) -> list[dict]:
        """The caller's scope first (for a rep the narrowest clause), then the filters."""
        return [scope_filter(viewer, query.get("scope", "all")),
                *customer_filter(tz=self.tz, **query)]

    def list_customers(self, query: dict, viewer: Identity) -> tuple[list[dict], int]:
        clauses = self._scoped_clauses(query, viewer)
        return self.repository.find(combine(clauses), sort=_sort(query.get("sort")),
                                    page=query["page"], per_page=query["per_page"])

    def pool(self, query: dict, viewer: Identity) -> tuple[list[dict], int]:
        """Every customer's public view. It lists customers the caller may not see in
        full: they are sorted by public fields only, and a filter or search reading a
        private field finds only those the caller does see in full."""
        sort = _sort(query.get("sort"), PUBLIC_SORTABLE)
        clauses = customer_filter(tz=self.tz, visible=scope_filter(viewer, "all"), **query)
        return self.repository.find(combine(clauses), sort=sort,
                                    page=query["page"], per_page=query["per_page"])

    def export_rows(self, query: dict, viewer: Identity) -> list[dict]:
        clauses = self._scoped_clauses(query, viewer)
        return self.repository.find_all(combine(clauses), sort=_sort(query.get("sort")),
                                        limit=EXPORT_LIMIT)

    def duplicates(self, name: str) -> list[dict]:
        candidates = self.repository.duplicate_candidates(name)
        by_id = {d["_id"]: d for d in candidates}
        matches = naming.likely_duplicates(name, [(d["_id"], d["name"]) for d in candidates])
        return [{**match_summary(by_id[m.id]), "reason": m.reason, "score": m.score}
                for m in matches]

    # ------------------------------------------------------------------ import

    def import_customers(self, content: bytes, filename: str | None, actor: Identity, *,
                         in_pool: bool = False) -> dict:
        """Good rows are created (each in full), duplicates and bad rows reported by row."""
        rows = transfer.parse_import(content, filename)
        errors: list[dict] = []
        duplicates: list[dict] = []
        good: list[tuple[int, dict, str]] = []
        first_row_of: dict[str, tuple[int, str]] = {}
        for row, command in rows:
            refused = fields_not_allowed(actor, command)
            if refused:
                errors.extend({"row": row, "field": field, "code": "field_not_allowed",
                               "message": MANAGER_FIELDS[field]} for field in refused)
                continue
            try:
                F.clean_customer(command, partial=False)
            except Invalid as error:
                for field, messages in sorted(error.errors.items()):
                    for message in messages:
                        errors.append({"row": row, "field": field, "message": message,
                                       "code": error.code})
                continue
            normalized = naming.normalize_name(command["name"])
            if normalized in first_row_of:
                earlier_row, earlier_name = first_row_of[normalized]
                duplicates.append({"row": row, "matches": [
                    {"row": earlier_row, "name": earlier_name}]})
                continue
            first_row_of[normalized] = (row, command["name"])
            good.append((row, command, normalized))
        now = self.now()
        day = numbering.number_day(now, self.tz)
        first = self.repository.next_serials(numbering.day_key(day), len(good)) if good else 0
        created: list[Customer] = []
        held: list[tuple[int, str]] = []
        for offset, (row, command, normalized) in enumerate(good):
            number = numbering.format_number(day, first + offset)
            customer = Customer.create(actor, command, customer_id=number, number=number,
                                       contact_id=new_id(), now=now, in_pool=in_pool)
            holder = self.repository.reserve_name(normalized, customer.id, now)
            if holder:
                held.append((row, holder))
                continue
            created.append(customer)
        summaries = {d["_id"]: match_summary(d)
                     for d in self.repository.find_by_ids({h for _, h in held})}
        for row, holder in held:
            duplicates.append({"row": row, "matches": [summaries.get(holder, {"id": holder})]})
        import_id = new_id()
        for start in range(0, len(created), IMPORT_CHUNK):
            chunk = created[start:start + IMPORT_CHUNK]
            envelopes = [envelope for customer in chunk for envelope in to_envelopes(
                customer.events, producer=PRODUCER, actor_id=actor.user_id)]
            self.repository.insert_import_chunk(new_id(), import_id, chunk, envelopes, now)
        duplicates.sort(key=lambda d: d["row"])
        return {"created": len(created), "duplicates": duplicates, "errors": errors,
                "numbers": [c.number for c in created[:1000]]}

    # ------------------------------------------------------------------ contacts

    def contacts(self, customer_id: str, viewer: Identity) -> list:
        customer, seen = self.load_visible(customer_id, viewer)
        self._require_full(seen)
        return list(customer.contacts)

    def contact(self, customer_id: str, contact_id: str, viewer: Identity):
        customer, seen = self.load_visible(customer_id, viewer)
        self._require_full(seen)
        return customer.contact(contact_id)

    def add_contact(self, customer_id: str, data: dict, actor: Identity):
        contact_id = new_id()
        customer, _ = self.change(customer_id, actor, lambda c: c.add_contact(
            actor, data, contact_id=contact_id, now=self.now()))
        return customer.contact(contact_id)

    def update_contact(self, customer_id: str, contact_id: str, data: dict, actor: Identity):
        customer, _ = self.change(customer_id, actor, lambda c: c.update_contact(
            actor, contact_id, data, now=self.now()))
        return customer.contact(contact_id)

    def remove_contact(self, customer_id: str, contact_id: str, actor: Identity) -> None:
        self.change(customer_id, actor, lambda c: c.remove_contact(
            actor, contact_id, now=self.now()))

    # ------------------------------------------------------------------ follow-ups

    def log_interaction(self, customer_id: str, data: dict, actor: Identity):
        interaction_id = new_id()

        _, interaction = self.change(customer_id, actor, lambda c: c.log_interaction(
            actor, data, interaction_id=interaction_id, now=self.now()))
        return interaction

    def interactions(self, customer_id: str, viewer: Identity) -> list[dict]:
        customer, seen = self.load_visible(customer_id, viewer)
        self._require_full(seen)
        items = self.repository.interactions(customer_id)
        items.sort(key=lambda i: (as_utc(i["occurred_at"]), as_utc(i["created_at"])),
                   reverse=True)
        return items

    # ------------------------------------------------------------------ rules and reclaim

    def rules(self) -> dict:
        rules, _ = self.repository.get_rules()
        return rules.to_dict()

    def put_rules(self, data: dict, actor: Identity) -> dict:
        rules = reclaim.PoolRules.from_dict(data)
        self.repository.put_rules(rules, actor.user_id)
        return rules.to_dict()

    def reclaim_outlook(self, actor: Identity, within_days: int) -> dict:
        """The caller's own customers whose auto-reclaim deadline falls within
        `within_days` days of today (local date), earliest first."""
        today = self.today()
        rules, _ = self.repository.get_rules()
        items = []
        if rules.auto_reclaim:
            for customer in self.repository.customers_owned_by(actor.user_id):
                if customer.status in rules.exempt_statuses:
                    continue
                due = reclaim.deadlines(rules, customer, self.tz)
                if not due:
                    continue
                due_on, reason = due[0]
                days_left = (due_on - today).days
                if days_left <= within_days:
                    items.append({"id": customer.id, "number": customer.number,
                                  "name": customer.name, "level": customer.level,
                                  "status": customer.status, "due_on": due_on.isoformat(),
                                  "days_left": max(days_left, 0), "reason": reason})
        items.sort(key=lambda item: (item["due_on"], item["name"]))
        return {"as_of": today.isoformat(), "auto_reclaim": rules.auto_reclaim,
                "within_days": within_days, "items": items}

    def run_reclaim(self, as_of: date | None = None) -> dict:
        """Reclaim and warn as the rules say on the local date `as_of` (default today).
        Safe to run in several replicas at once: every change is a conditional update
        decided again on fresh state, so nothing is returned or warned twice."""
        as_of = as_of or self.today()
        rules, _ = self.repository.get_rules()
        report = {"as_of": as_of.isoformat(), "reclaimed": [], "warned": []}
        if not rules.auto_reclaim:
            return report
        for candidate in self.repository.owned_customers():
            if reclaim.decide(rules, candidate, as_of, self.tz).is_none:
                continue
            outcome: dict = {}

            def act(customer: Customer):
                outcome.clear()  # a lost race runs this again on fresh state
                decision = reclaim.decide(rules, customer, as_of, self.tz)
                if customer.apply_reclaim(decision, now=self.now()):
                    outcome["action"] = decision.action

            try:
                self.change(candidate.id, None, act)
            except DomainError:
                log.exception("auto-reclaim of %s failed", candidate.id)
                continue
            if outcome.get("action") == "reclaim":
                report["reclaimed"].append(candidate.id)
            elif outcome.get("action") == "warn":
                report["warned"].append(candidate.id)
        return report

    def scheduled_reclaim(self, now: datetime) -> None:
        """The daily run: once per local day (marked only after it completed)."""
        day = local_date(as_utc(now), self.tz)
        key = f"reclaim:{day.isoformat()}"
        if self.repository.run_done(key):
            return
        report = self.run_reclaim(day)
        self.repository.mark_run(key, reclaimed=len(report["reclaimed"]),
                                 warned=len(report["warned"]))

    def recover_imports(self, now: datetime) -> None:
        self.repository.recover_import_chunks(as_utc(now) - timedelta(minutes=5))

    # ------------------------------------------------------------------ consumers

    def on_opportunity_won(self, envelope: dict) -> None:
        data = envelope.get("data") or {}
        won = data.get("won") if isinstance(data.get("won"), dict) else data
        customer_id = data.get("customer_id")
        if not customer_id:
            return
        amount = _amount(won.get("won_amount") or won.get("amount") or data.get("won_amount"))
        signed_on = _date_or_none(won.get("signed_on"))
        self._react(customer_id, lambda c: c.record_deal(
            envelope["id"], amount=amount, signed_on=signed_on,
            opportunity_id=data.get("opportunity_id") or envelope.get("aggregate_id"),
            actor_id=envelope.get("actor_id"), now=self.now()))

    def on_task_completed(self, envelope: dict) -> None:
        data = envelope.get("data") or {}
        if data.get("type") == "internal":
            return  # an internal task is not contact with the customer
        completed = _moment_or_none(data.get("completed_at")) or _moment_or_none(
            envelope.get("occurred_at")) or self.now()
        for customer_id in data.get("customer_ids") or []:
            self._react(customer_id, lambda c: c.record_task_followup(
                envelope["id"], completed_at=completed,
                task_id=data.get("task_id") or envelope.get("aggregate_id"),
                actor_id=envelope.get("actor_id"), now=self.now()))

    def _react(self, customer_id: str, apply) -> None:
        """Apply an event to one customer once (its id is kept in the same write)."""
        try:
            self.change(customer_id, None, apply)
        except NotFound:
            log.info("event about unknown or deleted customer %s ignored", customer_id)

    def on_user_changed(self, user_id: str, profile: dict) -> None:
        if {"team", "region", "name"} & set(profile):
            current = self.directory.get(user_id) or {}
            self.repository.update_owner_profile(
                user_id, team=current.get("team"), region=current.get("region"),
                name=current.get("name"))


def match_summary(doc: dict) -> dict:
    return {"id": doc["_id"], "number": doc.get("number"), "name": doc.get("name"),
            "claimed": doc.get("owner_id") is not None, "owner_id": doc.get("owner_id"),
            "owner_name": doc.get("owner_name")}


def _amount(value) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01")) if value is not None else Decimal(0)
    except (InvalidOperation, ValueError):
        return Decimal(0)


def _date_or_none(value) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _moment_or_none(value) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    try:
        return as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00"))) if value else None
    except ValueError:
        return None
