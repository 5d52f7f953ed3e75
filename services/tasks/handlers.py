"""Use cases of the tasks service: load, call the domain, save (with the outbox) in one
write. The HTTP layer, the consumers and the scheduler all come through here.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import date, datetime, timedelta
from typing import Any, Callable

from crmkit.clock import as_utc, org_timezone, utcnow, zone
from crmkit.errors import DomainError, Invalid, NotFound, PreconditionFailed, VersionConflict
from crmkit.events import make_envelope
from crmkit.identity import Identity
from crmkit.pagination import sort_spec
from crmkit.visibility import Owner, is_superior

from services.tasks import calendar as cal
from services.tasks import domain, ics
from services.tasks.domain import CALLER, Task
from services.tasks.repository import (SORTABLE, CalendarTokenRepository,
                                       CustomerRecords, NotificationRepository,
                                       OpportunityRecords, TaskRepository)


PRODUCER = "tasks"
RETRIES = 5            # reload-and-retry after losing an optimistic-concurrency race
FEED_PAST = timedelta(days=90)    # how far back the .ics feed reaches


def envelopes_of(entity, actor_id: str | None) -> list[dict]:
    """The recorded events as bus envelopes (checked against their schemas); what the
    system did on its own (a reaction, a reminder) carries no actor."""
    found = []
    for event in entity.events:
        who = event.data.get("actor_id", actor_id)
        found.append(make_envelope(event, producer=PRODUCER,
                                   actor_id=None if who == domain.SYSTEM_ACTOR else who))
    entity.events.clear()
    return found


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TasksService:
    def __init__(self, db, directory, *, clock: Callable[[], datetime] = utcnow):
        self.repo = TaskRepository(db)
        self.notes = NotificationRepository(db)
        self.tokens = CalendarTokenRepository(db)
        self.customers = CustomerRecords(db)
        self.opportunities = OpportunityRecords(db)
        self.directory = directory
        self.clock = clock

    def on_user_changed(self, user_id: str, profile: dict) -> None:
        """A user moved team or region: the copies on their tasks follow, so that
        visibility stays right (the version moves too: a stale save must reload)."""
        self.repo.refresh_person(user_id, profile.get("team"), profile.get("region"))

    def ensure_indexes(self) -> None:
        self.repo.ensure_indexes()
        self.notes.ensure_indexes()
        self.tokens.ensure_indexes()

    # ---------------------------------------------------------------- people

    def resolve_user(self, user_id: str, field: str = "user_id") -> Owner:
        """A user the task may be given to, with their team and region."""
        profile = self.directory.get(user_id) if user_id else None
        if not profile:
            raise Invalid(field, "Unknown user. 用户不存在。", code="unknown_user")
        if profile.get("active") is False:
            raise Invalid(field, "This user is inactive. 该用户已停用。", code="user_inactive")
        return Owner(user_id, profile.get("team"), profile.get("region"))

    def _placed(self, user_id: str, team: str | None, region: str | None) -> Owner:
        """A record owner's team and region: our copy of the directory is current (a
        user moves team without their customers' events saying so); the event's, else."""
        profile = self.directory.get(user_id) or {}
        return Owner(user_id, profile.get("team") or team, profile.get("region") or region)

    def _owner_of(self, doc: dict) -> Owner | None:
        owner_id = doc.get("owner_id")
        return self._placed(owner_id, doc.get("owner_team"),
                            doc.get("owner_region")) if owner_id else None

    def require_links(self, actor: Identity, customer_ids, opportunity_id: str | None) -> None:
        """Refuse (422) linking what the caller may not see, as the services owning those
        records know it from their events: unheard of counts as absent."""
        docs = self.customers.get_many(customer_ids)
        customers = {}
        for customer_id in customer_ids:
            doc = docs.get(customer_id)
            customers[customer_id] = None if doc is None or doc.get("deleted") else \
                domain.linkable_customer(self._owner_of(doc), doc.get("region"),
                                         doc.get("shared_with"))
        opportunity = None
        if opportunity_id:
            doc = self.opportunities.get(opportunity_id)
            record = None
            if doc is not None:
                # An opportunity is shared with whom its customer is shared with.
                customer = self.customers.get(doc.get("customer_id") or "") or {}
                record = domain.Linkable(self._owner_of(doc), doc.get("region"),
                                         tuple(customer.get("shared_with") or ()))
            opportunity = (opportunity_id, record)
        domain.require_may_link(actor, customers=customers, opportunity=opportunity)

    def _assignee_for(self, actor: Identity, given: Any, field="assignee_id") -> Any:
        if given is CALLER:
            return CALLER
        if given is None:
            return None
        if given == actor.user_id:
            return domain.identity_as_owner(actor)
        return self.resolve_user(given, field)

    # ---------------------------------------------------------------- tasks

    def create(self, actor: Identity, body: dict) -> Task:
        body = dict(body)
        assignee = self._assignee_for(actor, body.pop("assignee_id", CALLER))
        task = domain.create_task(actor, assignee=assignee, now=self.clock(), **body)
        self.require_links(actor, task.customer_ids, task.opportunity_id)
        self.repo.add(task, envelopes_of(task, actor.user_id))
        return task

    def get(self, actor: Identity, task_id: str) -> Task:
        task = self.repo.get(task_id)
        if task is None or not domain.can_view(actor, task):
            raise NotFound("No such task. 任务不存在。")
        return task

    def _mutate(self, actor: Identity, task_id: str, change: Callable[[Task], Any], *,
                if_match: int | None = None) -> Task:
        """Load, change, save conditionally; reload and redo after losing a race (a
        client that named its version with If-Match gets 412 instead)."""
        for _ in range(RETRIES):
            task = self.get(actor, task_id)
            if if_match is not None and if_match != task.version:
                raise PreconditionFailed(
                    f"The task is at version {task.version}, not {if_match}. "
                    "任务已被修改,请刷新后重试。", code="stale_version")
            loaded = task.version
            change(task)
            if not task.events and task.version == loaded:
                return task
            try:
                self.repo.save(task, envelopes_of(task, actor.user_id),
                               expected_version=loaded)
                return task
            except VersionConflict:
                if if_match is not None:
                    raise PreconditionFailed("The task changed meanwhile. 任务已被修改。",
                                             code="stale_version") from None
        raise VersionConflict("The task is changing too often; try again. 请稍后重试。")

    def edit(self, actor: Identity, task_id: str, changes: dict, *,
             if_match: int | None = None) -> Task:
        def change(task: Task) -> None:
            customers, opportunity_id = set(task.customer_ids), task.opportunity_id
            task.edit(actor, changes, now=self.clock())
            # Only what the edit adds: links already there were checked when made.
            self.require_links(
                actor, [c for c in task.customer_ids if c not in customers],
                task.opportunity_id if task.opportunity_id != opportunity_id else None)
        return self._mutate(actor, task_id, change, if_match=if_match)

    def change_status(self, actor: Identity, task_id: str, status: str,
                      result: str | None = None, *, if_match: int | None = None) -> Task:
        return self._mutate(actor, task_id,
                            lambda t: t.change_status(actor, status, result, now=self.clock()),
                            if_match=if_match)

    def assign(self, actor: Identity, task_id: str, user_id: str, *,
               if_match: int | None = None) -> Task:
        self.get(actor, task_id)  # 404 before saying anything about the user
        target = self._assignee_for(actor, user_id, "user_id")
        return self._mutate(actor, task_id,
                            lambda t: t.assign(actor, target, now=self.clock()),
                            if_match=if_match)

    def list(self, actor: Identity, query: dict) -> tuple[list[Task], int]:
        parts = [domain.scope_query(actor, query.get("scope"))]
        if query.get("status"):
            parts.append({"status": {"$in": query["status"]}})
        if query.get("priority"):
            parts.append({"priority": {"$in": query["priority"]}})
        if query.get("type"):
            parts.append({"type": {"$in": query["type"]}})
        tz = self.timezone_of(actor)
        if query.get("due_before"):
            parts.append({"due_at": {"$lt": _moment("due_before", query["due_before"], tz,
                                                      end_of_day=True)}})
        if query.get("due_after"):
            parts.append({"due_at": {"$gte": _moment("due_after", query["due_after"], tz,
                                                       end_of_day=False)}})
        for name, field in (("customer_id", "customer_ids"),
                            ("opportunity_id", "opportunity_id"),
                            ("assignee_id", "assignee_id")):
            if query.get(name):
                parts.append({field: query[name]})
        parts = [p for p in parts if p]
        filter_ = {} if not parts else parts[0] if len(parts) == 1 else {"$and": parts}
        sort_text = query.get("sort") or "due_at"
        sort_text = sort_text.replace("priority", "priority_rank") \
            if sort_text.lstrip("+-") == "priority" else sort_text
        sort = sort_spec(sort_text, SORTABLE, "due_at")
        return self.repo.page(filter_, sort=sort, page=query.get("page", 1),
                              per_page=query.get("per_page", 20))

    # ---------------------------------------------------------------- bulk

    def bulk_create(self, actor: Identity, customer_ids: list[str], template: dict
                    ) -> list[dict]:
        template = dict(template)
        assignee = self._assignee_for(actor, template.pop("assignee_id", CALLER))
        now = self.clock()
        # The template is checked once: if it is wrong, it is wrong for every customer.
        domain.create_task(actor, assignee=assignee, now=now, **template)
        self.require_links(actor, [], template.get("opportunity_id"))
        results, seen = [], set()
        for customer_id in customer_ids:
            if customer_id in seen:
                results.append({"customer_id": customer_id, "ok": False,
                                "code": "duplicate", "detail": "Listed twice."})
                continue
            seen.add(customer_id)
            try:
                task = domain.create_task(actor, assignee=assignee, now=now,
                                          customer_ids=[customer_id], **template)
                self.require_links(actor, [customer_id], None)
                self.repo.add(task, envelopes_of(task, actor.user_id))
                results.append({"customer_id": customer_id, "ok": True, "id": task.id})
            except DomainError as error:
                results.append({"customer_id": customer_id, "ok": False,
                                "code": error.code, "detail": error.detail})
        return results

    def bulk_assign(self, actor: Identity, task_ids: list[str], user_ids: list[str]
                    ) -> list[dict]:
        pairs = domain.deal_round_robin(task_ids, user_ids)
        owners = {uid: self._assignee_for(actor, uid, "user_ids") for uid in user_ids}
        results, seen = [], set()
        for task_id, user_id in pairs:
            if task_id in seen:
                results.append({"id": task_id, "ok": False, "code": "duplicate",
                                "detail": "Listed twice."})
                continue
            seen.add(task_id)
            try:
                task = self._mutate(actor, task_id,
                                    lambda t, o=owners[user_id]: t.assign(actor, o,
                                                                          now=self.clock()))
                results.append({"id": task_id, "ok": True, "user_id": user_id,
                                "version": task.version})
            except DomainError as error:
                results.append({"id": task_id, "ok": False, "user_id": user_id,
                                "code": error.code, "detail": error.detail})
        return results

    # ---------------------------------------------------------------- inbox

    def notifications(self, actor: Identity, *, unread: bool | None, page: int,
                      per_page: int):
        return self.notes.page(actor.user_id, unread=unread, page=page, per_page=per_page)

    def read_notification(self, actor: Identity, note_id: str):
        note = self.notes.mark_read(actor.user_id, note_id, self.clock())
        if note is None:
            raise NotFound("No such notification. 通知不存在。")
        return note

    def unread_count(self, actor: Identity) -> int:
        return self.notes.unread_count(actor.user_id)

    def read_all_notifications(self, actor: Identity) -> int:
        return self.notes.mark_all_read(actor.user_id, self.clock())

    def add_notification_for(self, envelope: dict) -> bool:
        note = domain.notification_for(envelope, now=self.clock())
        return self.notes.add(note) if note else False

    # ---------------------------------------------------------------- calendar

    def timezone_of(self, actor: Identity):
        try:
            return zone(actor.timezone) if actor.timezone else org_timezone()
        except ValueError:
            return org_timezone()

    def calendar(self, actor: Identity, *, view: str, day: date | None,
                 user_id: str | None, scope: str | None = None) -> dict:
        tz = self.timezone_of(actor)
        day = day or self.clock().astimezone(tz).date()
        win = cal.window(view, day, tz)
        if scope == "team":
            who: dict = {"$and": [domain.scope_query(actor, "team")]}
        else:
            target = user_id or actor.user_id
            if target != actor.user_id:
                owner = self.directory.owner(target)
                if not is_superior(actor, owner) or not self.directory.get(target):
                    raise NotFound("No such user. 用户不存在。")
            who = {"assignee_id": target}
        tasks = self.repo.find({**who, **cal.query_bounds(win)},
                               sort=[("calendar_start", 1)], limit=5000)
        items = []
        for task, days in cal.entries(tasks, win):
            items.append({"task": task, "days": [d.isoformat() for d in days]})
        return {"view": view, "date": day.isoformat(), "from": win.first_day.isoformat(),
                "to": win.last_day.isoformat(), "timezone": tz.key, "items": items}

    def new_calendar_token(self, actor: Identity) -> str:
        token = secrets.token_urlsafe(32)
        self.tokens.replace(actor.user_id, hash_token(token), self.clock())
        return token

    def revoke_calendar_token(self, actor: Identity) -> bool:
        return self.tokens.revoke(actor.user_id)

    def feed(self, token: str) -> bytes:
        user_id = self.tokens.user_for(hash_token(token or ""))
        # The link works while its user does: a deactivated user (or one the directory
        # has not heard of) has no calendar to publish, whoever holds the link.
        profile = self.directory.get(user_id) if user_id else None
        if not profile or profile.get("active") is False:
            raise NotFound("Unknown or revoked calendar token. 日历链接无效或已撤销。",
                           code="invalid_calendar_token")
        now = self.clock()
        tasks = self.repo.find({"assignee_id": user_id,
                                "calendar_end": {"$gte": now - FEED_PAST}},
                               sort=[("calendar_start", 1)], limit=5000)
        return ics.feed(tasks, now=now, timezone_name=profile.get("timezone"),
                        name=f"CRM 任务 Tasks · {profile.get('name') or user_id}")

    # ---------------------------------------------------------------- reminders

    def fire_due_reminders(self, now: datetime | None = None, *,
                           budget_seconds: float = 5.0) -> int:
        """Fire what is due, each reminder exactly once even with other schedulers at
        work: a task is saved only if still at the version read, so of two replicas
        firing the same reminder one write wins and the other skips it. Returns how many
        fired; what the time budget leaves is the next sweep's."""
        import time as _time

        now = as_utc(now or self.clock())
        fired = 0
        started = None
        # One query per sweep, oldest first (indexed on next_remind_at); the budget runs
        # from the first task, so a slow query never starves the sweep of progress.
        for task in self.repo.due_for_reminders(now):
            started = started or _time.monotonic()
            if _time.monotonic() - started > budget_seconds:
                break
            loaded = task.version
            # Due as of the sweep's `now`; stamped with when it really fires.
            due = task.fire_due_reminders(max(now, as_utc(self.clock())))
            if not due:
                task.version += 1  # a stale next_remind_at: write it right
            try:
                self.repo.save(task, envelopes_of(task, None), expected_version=loaded)
            except VersionConflict:
                continue  # someone else fired it, or the task changed: next sweep
            fired += len(due)
        return fired


def _moment(field: str, text: str, tz, *, end_of_day: bool) -> datetime:
    """A date-time with offset, or a date meaning (the end of) that local day."""
    if "T" in text and " " in text:
        text = text.replace(" ", "+")   # an unencoded "+08:00" arrives as " 08:00"
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return cal.local_midnight(day, tz)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(field, "A date (YYYY-MM-DD) or a date-time with offset.") from None
    if moment.tzinfo is None:
        raise Invalid(field, "A date-time needs an offset (e.g. +08:00).")
    return as_utc(moment)

