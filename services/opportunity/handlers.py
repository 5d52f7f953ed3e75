"""Opportunity use cases: load, apply the rules, save state and events in one write.

Every change goes through `crmkit.commands.CommandRunner`: a command that loses an
optimistic-concurrency race runs again on fresh state (the rules are checked again),
unless the caller named the version with If-Match: then the race is theirs to see (412).
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from crmkit.clock import utcnow
from crmkit.commands import CommandRunner, Noun
from crmkit.errors import NotFound
from crmkit.identity import Identity

from services.opportunity.access import require_edit, require_read
from services.opportunity.customers import CustomerView
from services.opportunity.opportunity import Opportunity
from services.opportunity.pipeline import PIPELINE_ID, Pipeline
from services.opportunity.repository import OpportunityPage

PRODUCER = "opportunity"
OPPORTUNITY = Noun("opportunity", "商机")
PIPELINE = Noun("pipeline", "商机阶段")
CUSTOMER_COPY = Noun("customer copy", "客户副本")
SYSTEM_ACTOR = None  # changes the service makes by itself carry no actor


class OpportunityHandlers:
    def __init__(self, repo, directory, clock: Callable[[], datetime] = utcnow,
                 org_settings=None):
        self.repo = repo
        self.directory = directory
        self.clock = clock
        self.org_settings = org_settings   # crmkit.settings.OrgSettings: the dictionary
        # what the service changes by itself: no caller, so no visibility to check
        self.system = CommandRunner(load=self._stored, save=repo.save, producer=PRODUCER,
                                    noun=OPPORTUNITY)

    # ------------------------------------------------------------------ reading

    def get(self, opportunity_id: str, viewer: Identity, *,
            history: bool = False) -> Opportunity:
        return require_read(viewer, self.repo.get(opportunity_id, history=history))

    def history(self, opportunity_id: str, viewer: Identity) -> list[dict]:
        """Stage changes, closing and owner moves, oldest first."""
        return self.get(opportunity_id, viewer, history=True).history

    def followup_plans(self, opportunity_id: str, viewer: Identity) -> list[dict]:
        return self.get(opportunity_id, viewer).followup_plans

    def reminders(self, opportunity_id: str, viewer: Identity) -> list[dict]:
        return self.get(opportunity_id, viewer).reminders

    def list(self, viewer: Identity, query: dict) -> OpportunityPage:
        return self.repo.list(viewer, query)

    def pipeline(self) -> Pipeline:
        return self.repo.pipeline()

    # ------------------------------------------------------------------ creating

    def create(self, command: dict, viewer: Identity) -> Opportunity:
        command = dict(command)
        customer_id = command.pop("customer_id")
        view = self.repo.customer_view(customer_id)
        opp = Opportunity.open(
            viewer=viewer, customer=view.as_ref() if view else None,
            pipeline=self.repo.pipeline(), name=command.pop("name"),
            amount=command.pop("amount"),
            expected_close_date=command.pop("expected_close_date"), now=self.clock(),
            **command)
        self.system.create(opp, self.repo.add, actor_id=viewer.user_id)
        # The customer may have changed owner while this was being written; whichever
        # of us wrote second sees the other (the consumer reconciles after its write).
        self.reconcile(customer_id)
        return self.repo.get(opp.id, history=False) or opp

    # ------------------------------------------------------------------ changing

    def _edit(self, opportunity_id: str, viewer: Identity, action,
              expected_version: int | None = None):
        """Run `action` on the opportunity as `viewer` (who must be allowed to change
        it; checked before any version is compared). Returns (opportunity, result)."""
        runner = CommandRunner(
            load=lambda i: require_edit(viewer, self.repo.get(i, history=False)),
            save=self.repo.save, producer=PRODUCER, noun=OPPORTUNITY)
        return runner.run(opportunity_id, action, actor_id=viewer.user_id,
                          expected_version=expected_version)

    def update(self, opportunity_id, changes: dict, viewer, expected_version=None):
        return self._edit(opportunity_id, viewer, lambda o: o.update(
            changes, actor_id=viewer.user_id, pipeline=self.repo.pipeline(),
            now=self.clock(), customer_contacts=self._contacts_of(o.customer_id)
            if "contact_id" in changes else None), expected_version)[0]

    def _contacts_of(self, customer_id: str) -> tuple[str, ...] | None:
        """The customer's contact ids as the copy knows them (None: not known yet)."""
        view = self.repo.customer_view(customer_id)
        return view.contact_ids if view is not None else None

    def change_stage(self, opportunity_id, stage, note, viewer, expected_version=None):
        return self._edit(opportunity_id, viewer, lambda o: o.change_stage(
            stage, note, actor_id=viewer.user_id, pipeline=self.repo.pipeline(),
            now=self.clock()), expected_version)[0]

    def win(self, opportunity_id, command: dict, viewer, expected_version=None):
        return self._edit(opportunity_id, viewer, lambda o: o.win(
            amount=command["amount"], contract_number=command["contract_number"],
            signed_on=command["signed_on"], actor_id=viewer.user_id, now=self.clock()),
            expected_version)[0]

    def lose(self, opportunity_id, reason, viewer, expected_version=None):
        if self.org_settings is not None:   # the dictionary's loss reasons, when set
            self.org_settings.current().require_choices({"reason": ("loss_reason", reason)})
        return self._edit(opportunity_id, viewer, lambda o: o.lose(
            reason=reason, actor_id=viewer.user_id, now=self.clock()), expected_version)[0]

    def plan_followup(self, opportunity_id, command: dict, viewer) -> dict:
        return self._edit(opportunity_id, viewer, lambda o: o.plan_followup(
            start_at=command["start_at"], end_at=command["end_at"],
            method=command["method"], content=command["content"],
            actor_id=viewer.user_id, now=self.clock()))[1]

    def set_reminder(self, opportunity_id, command: dict, viewer) -> dict:
        return self._edit(opportunity_id, viewer, lambda o: o.set_reminder(
            remind_at=command["remind_at"], note=command.get("note"),
            actor_id=viewer.user_id, now=self.clock()))[1]

    # ------------------------------------------------------------------ pipeline

    def put_pipeline(self, stages: list[dict], viewer: Identity,
                     expected_version: int | None = None) -> Pipeline:
        # Counts of every current stage: a stage not kept must hold no open ones. (An
        # opportunity moved into a stage between this count and the write stays usable:
        # it can still move to any stage that exists; nothing breaks.)
        runner = CommandRunner(load=lambda _: self.repo.pipeline(),
                               save=self.repo.save_pipeline, producer=PRODUCER,
                               noun=PIPELINE)
        return runner.run(PIPELINE_ID, lambda p: p.edit(stages, self.repo.open_counts(p.keys)),
                          actor_id=viewer.user_id, expected_version=expected_version)[0]

    def rebase_probabilities(self, envelope: dict | None = None) -> int:
        """After a pipeline edit, opportunities whose probability follows their stage
        take the new defaults (consumer of our own pipeline.updated: crash-safe and
        idempotent, since it only moves what still differs)."""
        pipeline = self.repo.pipeline()
        moved = 0
        for stage in pipeline.stages:
            for opportunity_id in self.repo.following_stage(stage.key, stage.probability):
                if self._system_change(opportunity_id, lambda o: o.rebase_probability(
                        pipeline, now=self.clock())):
                    moved += 1
        return moved

    # ------------------------------------------------------------------ customers

    def on_customer_event(self, envelope: dict) -> None:
        """Fold a customer event into the service's copy of the customer, then make the
        customer's opportunities agree with it (owner, sharees, name, region)."""
        customer_id = envelope["data"]["customer_id"]
        runner = CommandRunner(
            load=lambda i: self.repo.customer_view(i) or CustomerView(id=i),
            save=lambda view, loaded, _: self.repo.save_customer_view(view, loaded,
                                                                      envelope["id"]),
            producer=PRODUCER, noun=CUSTOMER_COPY)
        runner.run(customer_id, lambda view: view.apply(envelope), actor_id=None)
        # Always, even for a duplicate: a crash between the two writes heals here.
        self.reconcile(customer_id)

    def reconcile(self, customer_id: str) -> int:
        view = self.repo.customer_view(customer_id)
        if view is None or not view.exists:
            return 0
        fields = {"shared_with": list(view.shared_with),
                  "shared_teams": list(view.shared_teams)}
        if view.name is not None:
            fields["customer_name"] = view.name
        if view.region is not None:
            fields["region"] = view.region
        self.repo.sync_customer_fields(customer_id, fields)
        moved = 0
        owner = view.owner
        for opp in self.repo.open_of_customer(customer_id):
            if (opp.owner_id, opp.owner_team, opp.owner_region) == (
                    (owner.user_id, owner.team, owner.region) if owner else (None, None, None)):
                continue
            if self._system_change(opp.id, lambda o: o.follow_customer_owner(
                    owner, actor_id=view.owner_actor_id, cause=view.owner_cause or "customer",
                    now=self.clock()), actor_id=view.owner_actor_id):
                moved += 1
        return moved

    def _system_change(self, opportunity_id: str, action, actor_id=SYSTEM_ACTOR) -> bool:
        """Run `action` (which says whether it changed anything); False for an
        opportunity that is gone."""
        try:
            return bool(self.system.run(opportunity_id, action, actor_id=actor_id)[1])
        except NotFound:
            return False

    def _stored(self, opportunity_id: str) -> Opportunity:
        opp = self.repo.get(opportunity_id, history=False)
        if opp is None:
            raise NotFound("Opportunity not found. 商机不存在。", code="not_found")
        return opp

    # ------------------------------------------------------------------ users

    def on_user_changed(self, user_id: str, profile: dict) -> None:
        """A user moved team or region: records they own carry the new place (who may
        see them follows)."""
        if "team" not in profile and "region" not in profile:
            return
        user = self.directory.get(user_id) or {}
        self.repo.sync_owner_profile(user_id, user.get("team"), user.get("region"))
