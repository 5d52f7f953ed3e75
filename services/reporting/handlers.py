"""Use cases of the reporting service: project an event, answer a report, set a target,
rebuild the read models from the kept events."""
from __future__ import annotations

import time
from datetime import date

from crmkit.background import QUEUED, RUNNING, UNFINISHED
from crmkit.clock import local_date, utcnow, zone
from crmkit.errors import Forbidden, Invalid
from crmkit.identity import Identity
from crmkit.money import parse_money, to_cents
from services.reporting import access, periods, reports
from services.reporting.access import Filters
from services.reporting.projections import SINGLE_EVENTS, Projector

REBUILD_GRACE = 1.0  # seconds for other processes' in-flight events to land first
REBUILD_POLL = 0.2   # how often a held consumer looks whether the rebuild is done
REBUILD_RUN = "reports_rebuild"   # the kind of background run a rebuild is


def rebuild_view(run: dict) -> dict:
    """A rebuild run as /reports/rebuild has always shown it: `status` (running, done,
    failed), its times, and once done what `rebuild` returned."""
    view = {"id": run["id"], "status": RUNNING if run["state"] == QUEUED else run["state"],
            "started_at": run["started_at"] or run["created_at"],
            **({"finished_at": run["finished_at"]} if run["finished_at"] else {}),
            **(run["result"] or {})}
    if run["error"]:
        view["error"] = run["error"]["detail"]
    return view


class ReportingHandlers:
    def __init__(self, repository, timezone: str = "Asia/Shanghai", *, runs=None):
        self.repository = repository
        self.tz = zone(timezone)
        self.projector = Projector(repository, tz=self.tz)
        self.runs = runs   # crmkit.background.BackgroundRuns: rebuilds run in the background

    # --- events -------------------------------------------------------------------------

    def on_event(self, envelope: dict) -> None:
        """Keep the event, then project it (both idempotent by event id)."""
        self.repository.keep_event(envelope)
        self._hold_while_rebuilding()
        lock = self.repository.lock
        # a user's event may move their figures between rollups: alone, so that no
        # thread of this process adds to the old rollups while the figures move (user
        # events are rare); others share it, and a rebuild in this process is waited for
        with lock.exclusive() if envelope["type"].startswith("user.") else lock.shared():
            self.projector.handle(envelope)

    def on_events(self, envelopes: list[dict]) -> None:
        """`on_event` of a consumer's batch, in a few writes: the events kept together,
        each run of entity events projected together (`Projector.handle_many`), a user's
        or the pipeline's event alone between them, as `on_event` would. A duplicate
        inside the batch counts once (the first)."""
        unique, ids = [], set()
        for envelope in envelopes:
            if envelope["id"] not in ids:
                ids.add(envelope["id"])
                unique.append(envelope)
        self.repository.keep_events(unique)
        self._hold_while_rebuilding()
        lock = self.repository.lock
        run: list[dict] = []
        for envelope in unique + [None]:
            if envelope is not None and envelope["type"] not in SINGLE_EVENTS:
                run.append(envelope)
                continue
            if run:
                with lock.shared():
                    self.projector.handle_many(run)
                run = []
            if envelope is not None:
                with lock.exclusive() if envelope["type"].startswith("user.") else \
                        lock.shared():
                    self.projector.handle(envelope)

    def _hold_while_rebuilding(self) -> None:
        """A rebuild in another process: hold this message until it is done (the event
        is kept already; projecting it again afterwards changes nothing)."""
        while self.repository.rebuilding():
            time.sleep(REBUILD_POLL)

    def start_rebuild(self, actor: Identity) -> dict:
        """Run a rebuild in the background (it can outlast an HTTP request): a run every
        process of the service answers the status of; one still going is returned
        instead of starting another."""
        going = self._last_rebuild()
        if going and going["state"] in UNFINISHED:
            return rebuild_view(going)
        return rebuild_view(self.runs.start(
            REBUILD_RUN, actor.user_id, lambda progress: self.rebuild(progress=progress)))

    def rebuild_status(self) -> dict:
        last = self._last_rebuild()
        return rebuild_view(last) if last else {"status": "idle"}

    def _last_rebuild(self) -> dict | None:
        return next(iter(self.runs.recent(REBUILD_RUN, limit=1)), None)

    def recover(self) -> int:
        """Finish counter updates a crashed writer left pending."""
        return self.repository.finish_pending()

    def rebuild(self, *, grace: float = REBUILD_GRACE, progress=None) -> dict:
        """Drop the read models and replay every kept event.

        Consumers keep storing events meanwhile but hold off projecting until the flag
        drops (in this process they wait for the lock); whatever they then project that
        the replay already covered changes nothing, as projecting is idempotent.
        """
        started = time.monotonic()
        repo = self.repository
        repo.set_rebuilding(True)
        time.sleep(grace)  # in-flight projections of other processes land first
        replayed = 0
        with repo.lock.exclusive():
            try:
                repo.finish_pending()
                repo.drop_read_models()
                projector = Projector(repo, tz=self.tz)
                for envelope in repo.kept_events():
                    projector.handle(envelope)
                    replayed += 1
                    if replayed % 5000 == 0:
                        if progress:
                            progress("replaying", replayed)
                        repo.set_rebuilding(True)  # still alive
                self.projector = projector
            finally:
                repo.set_rebuilding(False)
        return {"rebuilt": True, "events": replayed,
                "seconds": round(time.monotonic() - started, 3)}

    # --- reports ------------------------------------------------------------------------

    def today(self) -> date:
        return local_date(utcnow(), self.tz)

    def report(self, name: str, viewer: Identity, query: dict) -> dict:
        rm = self.repository
        filters = Filters(owner_id=query.get("owner_id"), team=query.get("team"),
                          region=query.get("region"))
        start, end = query.get("from"), query.get("to")
        if start and end and start > end:
            raise Invalid("to", "Must not be before 'from'. 结束日期不能早于开始日期。")
        if name == "summary":
            return reports.summary(rm, viewer)
        if name == "funnel":
            return reports.funnel(rm, viewer, start=start, end=end, filters=filters)
        if name == "performance":
            return reports.performance(rm, viewer, group_by=query["group_by"],
                                       period=query["period"], start=start, end=end,
                                       today=self.today(), filters=filters)
        if name == "activity":
            return reports.activity(rm, viewer, group_by=query["group_by"],
                                    period=query["period"], start=start, end=end,
                                    today=self.today(), filters=filters)
        if name == "forecast":
            return reports.forecast(rm, viewer, period=query["period"], start=start,
                                    end=end, filters=filters)
        if name == "forecast-vs-target":
            return reports.forecast_vs_target(rm, viewer, group_by=query["group_by"],
                                              period=query["period"], start=start, end=end,
                                              today=self.today(), filters=filters)
        if name == "customer-value":
            every_row = query.get("format", "json") != "json"  # an export: all rows
            return reports.customer_value(rm, viewer, model=query["model"],
                                          as_of=query.get("as_of") or self.today(),
                                          filters=filters,
                                          page=None if every_row else query.get("page", 1),
                                          per_page=query.get("per_page", 20))
        if name == "win-loss":
            return reports.win_loss(rm, viewer, start=start, end=end, filters=filters)
        raise ValueError(name)

    # --- targets ------------------------------------------------------------------------

    def put_target(self, viewer: Identity, body: dict) -> dict:
        """The target record as stored (schemas.TargetOut dumps it)."""
        if not viewer.at_least("supervisor"):
            raise Forbidden("Setting targets needs the supervisor role or higher. "
                            "设置目标需主管及以上角色。", code="forbidden")
        scopes = [s for s in ("owner_id", "team", "region") if body.get(s)]
        if len(scopes) != 1:
            raise Invalid({"_schema": ["Give exactly one of owner_id, team, region. "
                                       "请且仅请指定 owner_id、team、region 之一。"]})
        try:
            kind, _, _ = periods.parse_period(body["period"])
        except ValueError:
            raise Invalid("period", "Use 2026-11, 2026-Q4 or 2026. 期间格式应为 2026-11、"
                                    "2026-Q4 或 2026。") from None
        try:
            amount = parse_money(body["amount"])
        except ValueError as error:
            raise Invalid("amount", str(error)) from None
        scope_field = scopes[0]
        key = str(body[scope_field]).strip()
        scope = {"owner_id": "owner", "team": "team", "region": "region"}[scope_field]
        # as stored now: a user created a moment ago may be given a target at once
        region = access.target_region(viewer, scope, key,
                                      self.repository.list_directory(fresh=True))
        return self.repository.put_target(scope, key, body["period"], to_cents(amount),
                                          region, by=viewer.user_id, at=utcnow())

    def list_targets(self, viewer: Identity, scope: str | None, period: str | None) -> list:
        """The target records the caller may see, by period, scope and key."""
        entries = access.visible_entries(self.repository, viewer)
        found = []
        for name in ([scope] if scope else ["owner", "team", "region"]):
            for doc in self.repository.targets(name):
                if period and doc["period"] != period:
                    continue
                if access.target_visible(viewer, name, doc, entries, Filters()):
                    found.append(doc)
        found.sort(key=lambda t: (t["period"], t["scope"], t["key"]))
        return found

