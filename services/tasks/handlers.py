"""Use cases of the tasks service: the HTTP layer, the consumers and the scheduler all come
through here. Every change to a task goes through the kernel's command runner (load,
If-Match, domain method, conditional save with the outbox, bounded retry).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Callable

from crmkit.clock import as_utc, org_timezone, utcnow, zone
from crmkit.commands import CommandRunner, Noun
from crmkit.errors import Conflict, DomainError, Invalid, NotFound
from crmkit.identity import Identity
from crmkit.visibility import Owner, is_superior

from services.tasks import access, calendar as cal, ics
from services.tasks.domain import CALLER, Task, create_task, deal_round_robin, identity_as_owner
from services.tasks.fields import parse_moment
from services.tasks.notifications import notification_for
from services.tasks.repository import Repositories

PRODUCER = "tasks"
NOUN = Noun("task", "任务")
FEED_PAST = timedelta(days=90)    # how far back the .ics feed reaches


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TaskHandlers:
    def __init__(self, repositories: Repositories, directory, *,
                 clock: Callable[[], datetime] = utcnow, org_settings=None):
        self.org_settings = org_settings   # crmkit.settings.OrgSettings: the dictionary
        self.repo = repositories.tasks
        self.notes = repositories.notifications
        self.tokens = repositories.tokens
        self.customers = repositories.customers
        self.opportunities = repositories.opportunities
        self.directory = directory
        self.clock = clock

    # ---------------------------------------------------------------- the unit of work

    def _runner(self, load: Callable[[str], Task], *,
                seen_event: str | None = None) -> CommandRunner[Task]:
        save = self.repo.save if seen_event is None else partial(self.repo.save,
                                                                  seen_event=seen_event)
        return CommandRunner(load=load, save=save, producer=PRODUCER, noun=NOUN)

    def _run(self, actor: Identity, task_id: str, action: Callable[[Task], Any], *,
             expected_version: int | None = None) -> Task:
        """A user's command: a task the caller may not see is 404 before any version is
        compared."""
        task, _ = self._runner(partial(self.get, actor)).run(
            task_id, action, actor_id=actor.user_id, expected_version=expected_version)
        return task

    def react(self, task_id: str, action: Callable[[Task], Any], *,
              event_id: str | None = None) -> Task:
        """What the system does to a task on its own (a reaction to an event, recorded
        as applied by `event_id` in the same write): no actor, nobody's visibility."""
        task, _ = self._runner(self.repo.get, seen_event=event_id).run(
            task_id, action, actor_id=None)
        return task

    def add(self, task: Task, actor_id: str | None) -> bool:
        """Insert a new task with its events; False if it exists (an event replayed)."""
        return self._runner(self.repo.get).create(task, self.repo.add, actor_id=actor_id)

    def on_user_changed(self, user_id: str, profile: dict) -> None:
        """A user moved team or region: the copies on their tasks follow, so that
        visibility stays right."""
        team, region = profile.get("team"), profile.get("region")
        for task_id in self.repo.placing(user_id, team, region):
            self.react(task_id, lambda task: task.place_person(user_id, team, region))

    # ---------------------------------------------------------------- people

    def resolve_user(self, user_id: str, field: str = "user_id") -> Owner:
        """A user the task may be given to, with their team and region."""
        profile = self.directory.get(user_id) if user_id else None
        if not profile:
            raise Invalid(field, "Unknown user. 用户不存在。", code="unknown_user")
        if profile.get("active") is False:
            raise Invalid(field, "This user is inactive. 该用户已停用。", code="user_inactive")
        return Owner(user_id, profile.get("team"), profile.get("region"))

    def placed(self, user_id: str | None, team: str | None = None,
               region: str | None = None) -> Owner | None:
        """A user with their team and region: our copy of the directory is current (a
        user moves team without their customers' events saying so); the given ones
        (an event's), else."""
        if not user_id:
            return None
        profile = self.directory.get(user_id) or {}
        return Owner(user_id, profile.get("team") or team, profile.get("region") or region)

    def _owner_of(self, doc: dict) -> Owner | None:
        return self.placed(doc.get("owner_id"), doc.get("owner_team"), doc.get("owner_region"))

    def require_links(self, actor: Identity, customer_ids, opportunity_id: str | None) -> None:
        """Refuse (422) linking what the caller may not see, as the services owning those
        records know it from their events: unheard of counts as absent."""
        docs = self.customers.get_many(customer_ids)
        customers = {}
        for customer_id in customer_ids:
            doc = docs.get(customer_id)
            customers[customer_id] = None if doc is None or doc.get("deleted") else \
                access.linkable_customer(self._owner_of(doc), doc.get("region"),
                                         doc.get("shared_with"), doc.get("shared_teams"))
        opportunity = None
        if opportunity_id:
            doc = self.opportunities.get(opportunity_id)
            record = None
            if doc is not None:
                # An opportunity is shared with whom its customer is shared with.
                customer = self.customers.get(doc.get("customer_id") or "") or {}
                record = access.Linkable(self._owner_of(doc), doc.get("region"),
                                         tuple(customer.get("shared_with") or ()),
                                         tuple(customer.get("shared_teams") or ()))
            opportunity = (opportunity_id, record)
        access.require_may_link(actor, customers=customers, opportunity=opportunity)

    def _assignee_for(self, actor: Identity, given: Any, field="assignee_id") -> Any:
        if given is CALLER:
            return CALLER
        if given is None:
            return None
        if given == actor.user_id:
            return identity_as_owner(actor)
        return self.resolve_user(given, field)

    # ---------------------------------------------------------------- tasks

    def require_dictionary(self, body: dict) -> None:
        """422 `not_in_dictionary` for a task type the organisation's data dictionary
        does not list (when it lists task types at all)."""
        if self.org_settings is not None and "type" in body:
            self.org_settings.current().require_choices({"type": ("task_type", body["type"])})

    def create(self, actor: Identity, body: dict) -> Task:
        body = dict(body)
        self.require_dictionary(body)
        assignee = self._assignee_for(actor, body.pop("assignee_id", CALLER))
        task = create_task(actor, assignee=assignee, now=self.clock(), **body)
        self.require_links(actor, task.customer_ids, task.opportunity_id)
        self.add(task, actor.user_id)
        return task

    def get(self, actor: Identity, task_id: str) -> Task:
        task = self.repo.get(task_id)
        access.require_can_view(actor, task)
        return task

    def edit(self, actor: Identity, task_id: str, changes: dict, *,
             expected_version: int | None = None) -> Task:
        self.require_dictionary(changes)

        def change(task: Task) -> None:
            customers, opportunity_id = set(task.customer_ids), task.opportunity_id
            task.edit(actor, changes, now=self.clock())
            # Only what the edit adds: links already there were checked when made.
            self.require_links(
                actor, [c for c in task.customer_ids if c not in customers],
                task.opportunity_id if task.opportunity_id != opportunity_id else None)
        return self._run(actor, task_id, change, expected_version=expected_version)

    def change_status(self, actor: Identity, task_id: str, status: str,
                      result: str | None = None, *,
                      expected_version: int | None = None) -> Task:
        return self._run(actor, task_id,
                         lambda t: t.change_status(actor, status, result, now=self.clock()),
                         expected_version=expected_version)

    def assign(self, actor: Identity, task_id: str, user_id: str, *,
               expected_version: int | None = None) -> Task:
        self.get(actor, task_id)  # 404 before saying anything about the user
        target = self._assignee_for(actor, user_id, "user_id")
        return self._run(actor, task_id, lambda t: t.assign(actor, target, now=self.clock()),
                         expected_version=expected_version)

    def list(self, actor: Identity, query: dict) -> tuple[list[Task], int]:
        tz = self.timezone_of(actor)
        criteria = dict(query)
        for name, end_of_day in (("due_before", True), ("due_after", False)):
            if query.get(name):
                criteria[name] = parse_moment(name, query[name], tz, end_of_day=end_of_day)
        return self.repo.page(actor, criteria, sort=query.get("sort"),
                              page=query.get("page", 1), per_page=query.get("per_page", 20))

    # ---------------------------------------------------------------- bulk

    def bulk_create(self, actor: Identity, customer_ids: list[str], template: dict
                    ) -> list[dict]:
        template = dict(template)
        self.require_dictionary(template)
        assignee = self._assignee_for(actor, template.pop("assignee_id", CALLER))
        now = self.clock()
        # The template is checked once: if it is wrong, it is wrong for every customer.
        create_task(actor, assignee=assignee, now=now, **template)
        self.require_links(actor, [], template.get("opportunity_id"))
        results, seen = [], set()
        for customer_id in customer_ids:
            if customer_id in seen:
                results.append({"customer_id": customer_id, "ok": False,
                                "code": "duplicate", "detail": "Listed twice."})
                continue
            seen.add(customer_id)
            try:
                task = create_task(actor, assignee=assignee, now=now,
                                   customer_ids=[customer_id], **template)
                self.require_links(actor, [customer_id], None)
                self.add(task, actor.user_id)
                results.append({"customer_id": customer_id, "ok": True, "id": task.id})
            except DomainError as error:
                results.append({"customer_id": customer_id, "ok": False,
                                "code": error.code, "detail": error.detail})
        return results

    def bulk_assign(self, actor: Identity, task_ids: list[str], user_ids: list[str]
                    ) -> list[dict]:
        pairs = deal_round_robin(task_ids, user_ids)
        owners = {uid: self._assignee_for(actor, uid, "user_ids") for uid in user_ids}
        results, seen = [], set()
        for task_id, user_id in pairs:
            if task_id in seen:
                results.append({"id": task_id, "ok": False, "code": "duplicate",
                                "detail": "Listed twice."})
                continue
            seen.add(task_id)
            try:
                task = self._run(actor, task_id,
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
        note = notification_for(envelope, now=self.clock())
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
            tasks = self.repo.in_window(win.start, win.end, team_of=actor)
        else:
            target = user_id or actor.user_id
            if target != actor.user_id:
                owner = self.directory.owner(target)
                if not is_superior(actor, owner) or not self.directory.get(target):
                    raise NotFound("No such user. 用户不存在。")
            tasks = self.repo.in_window(win.start, win.end, assignee_id=target)
        items = [{"task": task, "days": [d.isoformat() for d in days]}
                 for task, days in cal.entries(tasks, win)]
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
        tasks = self.repo.feed_for(user_id, now - FEED_PAST)
        return ics.feed(tasks, now=now, timezone_name=profile.get("timezone"),
                        name=f"CRM 任务 Tasks · {profile.get('name') or user_id}")

    # ---------------------------------------------------------------- reminders

    def fire_due_reminders(self, now: datetime | None = None, *,
                           budget_seconds: float = 5.0) -> int:
        """Fire what is due, each reminder exactly once even with other schedulers at
        work: a task is saved only if still at the version read, so of two replicas
        firing the same reminder one write wins and the other skips it (one attempt: the
        next sweep sees what the winner left). Returns how many fired; what the time
        budget leaves is the next sweep's."""
        now = as_utc(now or self.clock())
        fired = 0
        started = None
        # Batches of due tasks, oldest first (indexed on next_remind_at); the budget runs
        # from the first task, so a slow query never starves the sweep of progress.
        for task in self.repo.due_for_reminders(now):
            started = started or time.monotonic()
            if time.monotonic() - started > budget_seconds:
                break
            runner = CommandRunner(load=lambda _id, task=task: task,
                                   save=self.repo.save_fired, producer=PRODUCER, noun=NOUN,
                                   attempts=1)
            try:
                # Due as of the sweep's `now`; stamped with when it really fires.
                _, due = runner.run(task.id, lambda t: t.fire_due_reminders(
                    max(now, as_utc(self.clock()))), actor_id=None)
            except Conflict:
                continue  # someone else fired it, or the task changed: next sweep
            if not due:
                self.repo.refresh_schedule(task)   # nothing due after all: a stale index
            fired += len(due)
        return fired
