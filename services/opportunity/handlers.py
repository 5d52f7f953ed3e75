"""Opportunity use cases: load, apply the rules, save state and events in one write.

Commands that lose an optimistic-concurrency race are tried again from a fresh read
(the rules are checked again), unless the caller named the version with If-Match: then
the race is theirs to see (412).
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from crmkit.clock import utcnow
from crmkit.errors import PreconditionFailed, VersionConflict
from crmkit.events import DomainEvent, to_envelopes
from crmkit.identity import Identity
from crmkit.visibility import Owner

from services.opportunity.customers import apply_event
from services.opportunity.domain import (Opportunity, Pipeline, require_edit,
                                         require_read)

log = logging.getLogger(__name__)

PRODUCER = "opportunity"
RETRIES = 5
SYSTEM_ACTOR = None  # changes the service makes by itself carry no actor


class OpportunityService:
    def __init__(self, repo, directory, clock: Callable[[], datetime] = utcnow):
        self.repo = repo
        self.directory = directory
        self.clock = clock

    # ------------------------------------------------------------------ reading

    def get(self, opportunity_id: str, viewer: Identity, *,
            history: bool = False) -> Opportunity:
        return require_read(viewer, self.repo.get(opportunity_id, history=history))

    def list(self, viewer: Identity, query: dict, sort):
        return self.repo.list(viewer, query, sort)

    def pipeline(self) -> Pipeline:
        return self.repo.pipeline()

    # ------------------------------------------------------------------ creating

    def create(self, command: dict, viewer: Identity) -> Opportunity:
        command = dict(command)
        customer_id = command.pop("customer_id")
        view, _ = self.repo.customer_view(customer_id)
        opp = Opportunity.open(
            viewer=viewer, customer=view.as_ref() if view else None,
            pipeline=self.repo.pipeline(), name=command.pop("name"),
            amount=command.pop("amount"),
            expected_close_date=command.pop("expected_close_date"), now=self.clock(),
            **command)
        self.repo.add(opp, self._envelopes(opp, viewer.user_id))
        # The customer may have changed owner while this was being written; whichever
        # of us wrote second sees the other (the consumer reconciles after its write).
        self.reconcile(customer_id)
        return self.repo.get(opp.id, history=False) or opp

    # ------------------------------------------------------------------ changing

    def _change(self, opportunity_id: str, viewer: Identity, expected_version: int | None,
                action: Callable[[Opportunity], object]):
        for _ in range(RETRIES):
            opp = require_edit(viewer, self.repo.get(opportunity_id, history=False))
            if expected_version is not None and opp.version != expected_version:
                raise PreconditionFailed(
                    f"The opportunity is at version {opp.version}, not {expected_version}.",
                    code="stale_version")
            before = opp.version
            result = action(opp)
            if opp.version == before:
                return opp, result
            try:
                self.repo.save(opp, before, self._envelopes(opp, viewer.user_id))
                return opp, result
            except VersionConflict:
                if expected_version is not None:
                    raise PreconditionFailed("The opportunity changed meanwhile.",
                                             code="stale_version") from None
        raise VersionConflict("The opportunity is busy; try again.")

    def update(self, opportunity_id, changes: dict, viewer, expected_version=None):
        return self._change(opportunity_id, viewer, expected_version, lambda o: o.update(
            changes, actor_id=viewer.user_id, pipeline=self.repo.pipeline(),
            now=self.clock()))[0]

    def change_stage(self, opportunity_id, stage, note, viewer, expected_version=None):
        return self._change(opportunity_id, viewer, expected_version, lambda o: o.change_stage(
            stage, note, actor_id=viewer.user_id, pipeline=self.repo.pipeline(),
            now=self.clock()))[0]

    def win(self, opportunity_id, command: dict, viewer, expected_version=None):
        return self._change(opportunity_id, viewer, expected_version, lambda o: o.win(
            amount=command["amount"], contract_number=command["contract_number"],
            signed_on=command["signed_on"], actor_id=viewer.user_id, now=self.clock()))[0]

    def lose(self, opportunity_id, reason, viewer, expected_version=None):
        return self._change(opportunity_id, viewer, expected_version, lambda o: o.lose(
            reason=reason, actor_id=viewer.user_id, now=self.clock()))[0]

    def plan_followup(self, opportunity_id, command: dict, viewer) -> tuple[Opportunity, dict]:
        return self._change(opportunity_id, viewer, None, lambda o: o.plan_followup(
            start_at=command["start_at"], end_at=command["end_at"],
            method=command["method"], content=command["content"],
            actor_id=viewer.user_id, now=self.clock()))

    def set_reminder(self, opportunity_id, command: dict, viewer) -> tuple[Opportunity, dict]:
        return self._change(opportunity_id, viewer, None, lambda o: o.set_reminder(
            remind_at=command["remind_at"], note=command.get("note"),
            actor_id=viewer.user_id, now=self.clock()))

    # ------------------------------------------------------------------ pipeline

    def put_pipeline(self, stages: list[dict], viewer: Identity,
                     expected_version: int | None = None) -> Pipeline:
        for _ in range(RETRIES):
            current = self.repo.pipeline()
            if expected_version is not None and current.version != expected_version:
                raise PreconditionFailed(
                    f"The pipeline is at version {current.version}.", code="stale_version")
            # Counts of every current stage: a stage not kept must hold no open ones.
            # (An opportunity moved into a stage between this count and the write stays
            # usable: it can still move to any stage that exists; nothing breaks.)
            edited = current.replaced(stages, self.repo.open_counts(current.keys))
            event = DomainEvent("pipeline.updated", "pipeline", data={
                "stages": [s.to_dict() for s in edited.stages], "version": edited.version})
            envelopes = to_envelopes([event], producer=PRODUCER, actor_id=viewer.user_id)
            try:
                self.repo.save_pipeline(edited, current.version, envelopes)
                return edited
            except VersionConflict:
                if expected_version is not None:
                    raise PreconditionFailed("The pipeline changed meanwhile.",
                                             code="stale_version") from None
        raise VersionConflict("The pipeline is busy; try again.")

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
        """Fold a customer event into the read model, then make the customer's
        opportunities agree with it (owner, sharees, name, region)."""
        data = envelope.get("data") or {}
        customer_id = (envelope.get("aggregate_id") or data.get("customer_id")
                       or data.get("id"))
        if not customer_id:
            log.warning("customer event %s without a customer id", envelope.get("id"))
            return
        for _ in range(RETRIES):
            view, rev = self.repo.customer_view(customer_id)
            updated, applied = apply_event(view, envelope, resolve_owner=self._owner_of)
            if view is not None and not applied.changed:
                break
            if self.repo.save_customer_view(updated, rev):
                break
        else:
            raise VersionConflict(f"customer view {customer_id} is busy")
        # Always, even for a duplicate: a crash between the two writes heals here.
        self.reconcile(customer_id)

    def reconcile(self, customer_id: str) -> int:
        view, _ = self.repo.customer_view(customer_id)
        if view is None or view.deleted:
            return 0
        fields = {"shared_with": list(view.shared_with)}
        if view.name is not None:
            fields["customer_name"] = view.name
        if view.region is not None:
            fields["region"] = view.region
        self.repo.sync_customer_fields(customer_id, fields)
        if view.owner_stamp is None:
            return 0
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
        for _ in range(RETRIES):
            opp = self.repo.get(opportunity_id, history=False)
            if opp is None:
                return False
            before = opp.version
            action(opp)
            if opp.version == before:
                return False
            try:
                self.repo.save(opp, before, self._envelopes(opp, actor_id))
                return True
            except VersionConflict:
                continue
        raise VersionConflict(f"opportunity {opportunity_id} is busy")

    def _owner_of(self, user_id: str) -> Owner | None:
        return self.directory.owner(user_id) if self.directory else None

    # ------------------------------------------------------------------ users

    def on_user_changed(self, user_id: str, profile: dict) -> None:
        """A user moved team or region: records they own carry the new place (who may
        see them follows)."""
        if "team" not in profile and "region" not in profile:
            return
        user = self.directory.get(user_id) or {}
        self.repo.sync_owner_profile(user_id, user.get("team"), user.get("region"))

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _envelopes(opp: Opportunity, actor_id: str | None) -> list[dict]:
        envelopes = to_envelopes(opp.events, producer=PRODUCER, actor_id=actor_id)
        opp.events.clear()
        return envelopes

