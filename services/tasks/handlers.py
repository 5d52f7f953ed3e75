"""Use cases of the tasks service: the HTTP layer, the consumers and the scheduler all come
through here. Every change to a task goes through the kernel's command runner (load,
If-Match, domain method, conditional save with the outbox, bounded retry).
"""
from __future__ import annotations

import hashlib
import secrets
import threading
import time
import itertools
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any, Callable

from crmkit.clock import as_utc, org_timezone, utcnow, zone
from crmkit.commands import CommandRunner, Noun
from crmkit.errors import DomainError, Invalid, NotFound
from crmkit.events import to_envelopes
from crmkit.identity import Identity
from crmkit.visibility import Owner, is_superior

from services.tasks import access, calendar as cal, ics
from services.tasks.domain import CALLER, Task, create_task, deal_round_robin, identity_as_owner
from services.tasks.fields import parse_moment
from services.tasks.notifications import notification_for
from services.tasks.repository import Repositories, firing_ids

PRODUCER = "tasks"
NOUN = Noun("task", "任务")
FEED_PAST = timedelta(days=90)    # how far back the .ics feed reaches
FIRING_CHUNK = 100                # tasks whose reminders go in with one insert_many
MARK_SLICE = 200                  # tasks marked per round of update_many's
MARK_AT_LEAST = 0.5               # seconds of marking a sweep does whatever its budget
FIRINGS_KEPT = timedelta(hours=1)  # a firing record outlives any sweep's read-ahead
TIDY_EVERY = 60.0                 # seconds between sweeps over the firing records


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
        self._tidied_at = float("-inf")
        self._records_to_check: set[str] = set()   # firing records maybe not applied
        # tasks whose reminders this process fired, their records written, not yet
        # marked on them: {task id: (task as fired, version read, reminders fired)}
        self._unmarked: dict[str, tuple[Task, int, list]] = {}

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
                           budget_seconds: float = 5.0, read_ahead: float = 0.0,
                           stop: threading.Event | None = None) -> int:
        """Fire what is due by `now` (and, with `read_ahead`, what falls due in the
        seconds after it, each at its moment, waiting for it on `stop`): every reminder
        exactly once, however many schedulers run. Returns how many fired. Once `stop`
        is set it fires no more (what is left stays due, for the scheduler that takes
        over the job's lease).

        Firing is an insert, not an update of the task: the domain fires the task's due
        reminders on the copy read, and each becomes a firing record whose `_id` is task
        id + reminder id, its reminder.due in the record's own outbox (one write per
        record, as DESIGN's outbox rule asks; the relay publishes it). Records go in
        with one unordered insert_many per chunk of tasks, a fraction of a millisecond
        each where a conditional update of the task costs several (every one of its
        indexes recomputed). Afterwards, off the lateness path, the tasks take the marks
        in bulk (`_mark_fired`; `_bring_tasks_up_to_date` for records left unapplied).
        Until then this process leaves those tasks out of its sweeps, and another
        scheduler's insert meets the duplicate key.

        Why exactly once, with any number of sweepers and a crash between any two
        writes:
        - A reminder.due exists only inside a firing record, and a reminder has one
          possible record `_id`: a second insert of it, by another scheduler or by this
          one after a crash, is a duplicate key and writes nothing. So it is never
          recorded twice, whatever the interleaving.
        - A crash after the record but before the task is marked leaves the task due:
          the next sweep reads it, its insert meets the duplicate key (fires nothing),
          and the unapplied record is taken in then. A crash after marking but before
          the record is flagged `applied` marks nothing twice (`Task.mark_fired` skips
          what is marked). Records are kept an hour after they are applied and
          published, far longer than any read-ahead, so a stale read still meets them.
        - A task changed between the read and the mark (an edit, a status change)
          keeps its change: the bulk mark is conditional on the version read, and what
          it misses is marked again from a fresh load (`Task.mark_fired`: only if the
          task still has that reminder unmarked), conditional on that version.
        What read-ahead costs: a task edited or closed less than `read_ahead` seconds
        before its reminder's time still reminds as it was read (the event carries
        that task's state); the sweep with `read_ahead=0` never does.
        """
        now = as_utc(now or self.clock())
        stop = stop or threading.Event()   # none: waits its full time
        horizon = now + timedelta(seconds=read_ahead)
        read = self.repo.due_for_reminders(horizon)   # None: the schedule says none due
        waiting = deque(task for task in read or () if task.id not in self._unmarked)
        # the budget runs from the horizon (or the end of a read that took longer)
        ahead = max(0.0, (horizon - as_utc(self.clock())).total_seconds())
        deadline = time.monotonic() + ahead + budget_seconds
        fired = 0
        # One chunk's records are written (in `recorder`) while the next chunk is made
        # (the domain's marks, the envelopes and their checks: a third of a burst's
        # time, which the database's write no longer waits for). Still one write at a
        # time, in order, each of a chunk made before it.
        writing: tuple[Future, list] | None = None
        with ThreadPoolExecutor(1, thread_name_prefix="reminder-firings") as recorder:
            while waiting and time.monotonic() < deadline and not stop.is_set():
                # Stamped just before its chunk is made, so that `fired_at` is at most
                # about two chunks' writes early (the one being written, then its own).
                moment = max(now, as_utc(self.clock()))
                chunk = []
                while waiting and len(chunk) < FIRING_CHUNK and \
                        as_utc(waiting[0].next_remind_at) <= moment:
                    chunk.append(waiting.popleft())
                if not chunk:
                    fired += self._written(writing)
                    writing = None
                    wait = (as_utc(waiting[0].next_remind_at) - moment).total_seconds()
                    self._mark_fired(until=min(deadline, time.monotonic() + wait))
                    wait = (as_utc(waiting[0].next_remind_at) - as_utc(self.clock()))
                    stop.wait(max(0.0, min(wait.total_seconds(),
                                           deadline - time.monotonic())))
                    continue
                firings = []
                for task in chunk:
                    loaded = task.version
                    due = task.fire_due_reminders(moment)
                    if not due:
                        self.repo.refresh_schedule(task)   # stale next_remind_at
                        continue
                    envelopes = to_envelopes(task.events, producer=PRODUCER, actor_id=None)
                    task.events.clear()
                    firings.append((task, loaded, due, envelopes))
                fired += self._written(writing)
                writing = (recorder.submit(self.repo.record_firings, firings), firings)
            fired += self._written(writing)
        # Marks until the horizon (what falls due by then was read: nothing waits for
        # this), at least a little; the rest is the next sweep's, which leaves these
        # tasks out (so that one sweep stays well within the lease).
        ahead = max(MARK_AT_LEAST, (horizon - as_utc(self.clock())).total_seconds())
        self._mark_fired(until=time.monotonic() + ahead)
        if self._records_to_check:
            ids, self._records_to_check = list(self._records_to_check), set()
            self._bring_tasks_up_to_date(ids)
        if not self._unmarked and self._time_to_tidy():
            self._bring_tasks_up_to_date()
        if read is not None and not waiting and not self._unmarked:
            self.repo.reschedule()   # all read and marked: the next due time is known
        return fired

    def _written(self, writing: tuple[Future, list] | None) -> int:
        """Wait for a chunk's firing records to be written (its failure is raised
        here); returns how many of its reminders fired. Those whose record was there
        already are checked later."""
        if writing is None:
            return 0
        future, firings = writing
        went_in = future.result()
        fired = 0
        for task, loaded, due, _ in firings:
            if task.id in went_in:
                fired += len(due)
                self._unmarked[task.id] = (task, loaded, due)
            else:   # fired before: its record may await its task
                self._records_to_check.update(firing_ids(task, due))
        return fired

    def next_reminder_at(self) -> datetime | None:
        """When the reminder loop should sweep next: now while tasks this process fired
        wait for their marks, else when the next reminder is due."""
        return as_utc(self.clock()) if self._unmarked else self.repo.next_reminder_at()

    def _mark_fired(self, *, until: float) -> None:
        """Mark on their tasks (in bulk, conditional on the version read) reminders this
        process fired, a slice at a time until `until` (monotonic)."""
        while self._unmarked and time.monotonic() < until:
            ids = list(itertools.islice(self._unmarked, MARK_SLICE))
            # a task changed meanwhile: its records wait for a fresh load
            self._records_to_check.update(
                self.repo.mark_fired([self._unmarked.pop(task_id) for task_id in ids]))

    def _time_to_tidy(self) -> bool:
        """Now and then (not every sweep: the records are not indexed for it; not while
        this process has marks to make) a sweep takes in records no sweep of its own
        left behind (another's crash, say), and forgets old ones."""
        if time.monotonic() - self._tidied_at < TIDY_EVERY:
            return False
        self._tidied_at = time.monotonic()
        self.repo.forget_firings(as_utc(self.clock()) - FIRINGS_KEPT)
        return True

    def _bring_tasks_up_to_date(self, only: list[str] | None = None) -> None:
        """Mark on their tasks the reminders whose firing records are not applied yet
        (those of `only`, else any): the bulk mark missed them (the task changed
        meanwhile), another scheduler fired them, or a crash came first. In bulk like
        the firing sweep's own, from a fresh load."""
        if only is not None:
            records = self.repo.unapplied_firings(only)
            self._records_to_check.update(self._take_in(records))   # a later sweep's
            return
        left_for_later: set[str] = set()
        while len(left_for_later) <= MARK_SLICE:   # more: a later sweep's
            records = self.repo.unapplied_firings(besides=left_for_later)
            if not records:
                return
            left_for_later.update(self._take_in(records))

    def _take_in(self, records: list[dict]) -> list[str]:
        """Mark the reminders of these firing records on a fresh load of their tasks;
        flag applied those with nothing left to mark. Returns the ids of those whose
        task changed again meanwhile."""
        by_task: dict[str, dict[str, datetime]] = {}
        for record in records:
            by_task.setdefault(record["task_id"], {})[record["reminder_id"]] = \
                record["fired_at"]
        tasks = self.repo.get_many(by_task)
        marks, unchanged = [], set()
        for task_id, fired_at in by_task.items():
            task = tasks.get(task_id)
            loaded = task.version if task else None
            marked = task.mark_fired(fired_at) if task else []
            if marked:
                marks.append((task, loaded, marked))
            else:   # gone, marked already, or the reminder was replaced
                unchanged.add(task_id)
        missed = self.repo.mark_fired(marks)
        self.repo.firings_applied([r["_id"] for r in records if r["task_id"] in unchanged])
        return missed
