"""The Customer aggregate: the record, its follow-ups and the deals won with it.

Its parts, each in its own module: who may see and do what (`access.py`), the pool
actions and claim rules (`ownership.py`), the contacts (`contacts.py`), the
auto-reclaim rules (`reclaim.py`).

Every change appends a change-log entry `{at, actor_id, action, changes}` to `log` and a
`DomainEvent` to `events`, and raises `version` once per command; the command runner
(`crmkit.commands`) saves the three in one write and clears the events.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from crmkit.clock import as_utc, isoformat, utcnow
from crmkit.errors import Forbidden, Invalid, NotFound
from crmkit.events import DomainEvent
from crmkit.identity import Identity
from crmkit.visibility import Owner

from services.customer import fields as F
from services.customer.access import require_editor, require_may_set, require_visible
from services.customer.contacts import ContactBook
from services.customer.entities import Contact, Interaction, plain
from services.customer.ownership import Ownership

# Fields a change may touch, in the order the change log lists them.
TRACKED_FIELDS = ("name", "industry", "status", "level", "source", "source_detail", "tags",
                  "size", "address", "needs", "region", "primary_contact", "deal_amount",
                  "last_deal_on", "budget", "purchase_time", "first_contact_on")
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks differ a little; a follow-up is past


@dataclass
class Customer(Ownership, ContactBook):
    id: str
    number: str
    name: str
    industry: str
    status: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    level: str | None = None
    source: str | None = None
    source_detail: str | None = None
    tags: list[str] = field(default_factory=list)
    size: str | None = None
    address: str | None = None
    needs: str | None = None
    region: str | None = None
    owner_id: str | None = None
    owner_team: str | None = None
    owner_region: str | None = None
    owner_name: str | None = None
    owned_since: datetime | None = None
    shared_with: list[str] = field(default_factory=list)
    shared_teams: list[str] = field(default_factory=list)   # team paths (CONTRACT §11)
    contacts: list[Contact] = field(default_factory=list)
    deal_amount: Decimal = Decimal("0.00")
    currency: str = "CNY"
    last_deal_on: date | None = None
    last_followup_at: datetime | None = None
    budget: Decimal | None = None              # 预算: exact money, >= 0 (seed 002)
    purchase_time: date | None = None          # 采购时间: the planned purchase date
    first_contact_on: date | None = None       # 首次接触日期
    version: int = 0
    deleted: bool = False
    deleted_at: datetime | None = None
    releases: list[dict] = field(default_factory=list)   # [{user_id, at, reason}]
    reclaim_warned_for: date | None = None
    # Ids of the consumed events already applied: the document's
    # `crmkit.bus.idempotent.SEEN`, read when a consumer loads the customer. The
    # repository records a new id with `apply_once`, in the write that applies it; the
    # aggregate reads the list so that an event applied before records nothing (no log
    # entry, no event, no version) and so nothing is written.
    seen_events: list[str] = field(default_factory=list, repr=False)
    # What happened since the aggregate was loaded; saved with it in one write.
    events: list[DomainEvent] = field(default_factory=list, repr=False)
    log: list[dict] = field(default_factory=list, repr=False)
    new_interactions: list[Interaction] = field(default_factory=list, repr=False)
    # The follow-ups as loaded for an edit or a deletion (None: not loaded); a command
    # that changed them sets `interactions_changed` and the repository writes the list.
    interactions: list[Interaction] | None = field(default=None, repr=False)
    interactions_changed: bool = field(default=False, repr=False)

    # --- creation -----------------------------------------------------------------------

    @classmethod
    def create(cls, actor: Identity, data: dict, *, customer_id: str, number: str,
               contact_id: str, now: datetime | None = None, in_pool: bool = False,
               owner: Owner | None = None, owner_name: str | None = None) -> "Customer":
        """A new customer (新建 / 新建并领用), at version 1.

        The creator owns it, unless `in_pool` (it goes to the pool unclaimed) or a
        supervisor+ names another `owner` (whose profile the handler looked up).
        """
        now = as_utc(now or utcnow())
        require_may_set(actor, data)
        if owner is not None and in_pool:
            raise Invalid("owner_id", "Give either owner_id or in_pool, not both.")
        if owner is not None and owner.user_id != actor.user_id and \
                not actor.at_least("supervisor"):
            raise Forbidden("Only a supervisor or above may create a customer for someone "
                            "else. / 只有主管及以上可以为他人新建客户。")
        values = F.clean_customer(data, partial=False)
        primary = values.pop("primary_contact")
        if in_pool:
            owner, owner_name = None, None
        elif owner is None:
            owner, owner_name = Owner(actor.user_id, actor.team, actor.region), actor.name
        customer = cls(id=customer_id, number=number, created_by=actor.user_id,
                       created_at=now, updated_at=now,
                       **{k: v for k, v in values.items() if v is not None})
        if customer.region is None:
            customer.region = (owner.region if owner else None) or actor.region
        if owner is not None:
            customer._set_owner(owner, owner_name, now)
        contact = Contact(id=contact_id, name=primary["name"], phone=primary["phone"],
                          email=primary.get("email"), title=primary.get("title"),
                          is_primary=True, created_at=now, updated_at=now)
        customer.contacts.append(contact)
        created = {f: [None, plain(getattr(customer, f))] for f in TRACKED_FIELDS
                   if getattr(customer, f) not in (None, [], Decimal("0.00"))}
        if owner is not None:
            created["owner_id"] = [None, owner.user_id]
        customer._record(actor.user_id, "created", created, now)
        customer._emit("customer.created", {"in_pool": owner is None})
        customer._emit_contact("contact.created", contact)
        return customer

    # --- editing ------------------------------------------------------------------------

    def update(self, actor: Identity, data: dict, *, now: datetime | None = None) -> dict:
        """PATCH: apply changed fields; returns {field: [old, new]} (empty if nothing)."""
        require_editor(self, actor)
        require_may_set(actor, data)
        now = as_utc(now or utcnow())
        values = F.clean_customer(data, partial=True)
        changes: dict[str, list] = {}
        primary_patch = values.pop("primary_contact", None)
        for name, new in values.items():
            if name == "tags":
                new = new or []
            old = getattr(self, name)
            if old != new:
                changes[name] = [plain(old), plain(new)]
                setattr(self, name, new)
        if primary_patch:
            contact = self.primary_contact_entity
            before = self.primary_contact
            for key, value in primary_patch.items():
                setattr(contact, key, value)
            if self.primary_contact != before:
                contact.updated_at = now
                changes["primary_contact"] = [before, self.primary_contact]
        if not changes:
            return {}
        self.updated_at = now
        self._record(actor.user_id, "updated", changes, now)
        public_changes = {k: v for k, v in changes.items() if k != "primary_contact"}
        if public_changes:
            self._emit("customer.updated", {"changes": public_changes,
                                            "reason": "edited"})
        if "primary_contact" in changes:
            self._emit_contact("contact.updated", self.primary_contact_entity)
        return changes

    # --- follow-ups and deals -----------------------------------------------------------

    def log_interaction(self, actor: Identity, data: dict, *, interaction_id: str,
                        now: datetime | None = None) -> Interaction:
        """跟进记录: owner, sharees, superiors and admins; sets last_followup_at."""
        seen = require_visible(self, actor)
        if seen not in ("admin", "owner", "superior", "sharee"):
            raise Forbidden("Claim the customer before logging follow-ups. "
                            "/ 请先领用该客户再记录跟进。")
        now = as_utc(now or utcnow())
        values = F.clean_interaction(data)
        self._check_interaction(values, now)
        interaction = Interaction(id=interaction_id, customer_id=self.id, created_by=actor.user_id,
                                  created_at=now, **values)
        followup_change = self._followed_up(interaction.occurred_at, now)
        self.new_interactions.append(interaction)
        self._emit("interaction.logged", self._interaction_data(interaction))
        self._record(actor.user_id, "interaction_logged",
                     {"interactions": [None, interaction.id], **followup_change}, now)
        return interaction

    def edit_interaction(self, actor: Identity, interaction_id: str, data: dict, *,
                         now: datetime | None = None) -> Interaction:
        """Correct one's own follow-up record (its author only, while they still see the
        customer in full). A later occurred_at moves last_followup_at forward; an earlier
        one leaves it (a task's completion may have set it)."""
        interaction = self._own_interaction(actor, interaction_id)
        now = as_utc(now or utcnow())
        values = F.clean_interaction(data, partial=True)
        self._check_interaction(values, now)
        changes = {}
        for name, new in values.items():
            old = getattr(interaction, name)
            if old != new:
                changes[name] = [plain(old), plain(new)]
                setattr(interaction, name, new)
        if not changes:
            return interaction
        interaction.updated_at = now
        self.interactions_changed = True
        followup_change = self._followed_up(interaction.occurred_at, now)
        self._emit("interaction.updated", {**self._interaction_data(interaction),
                                           "changes": changes})
        self._record(actor.user_id, "interaction_updated",
                     {f"interactions.{interaction.id}.{k}": v for k, v in changes.items()}
                     | followup_change, now)
        return interaction

    def delete_interaction(self, actor: Identity, interaction_id: str, *,
                           now: datetime | None = None) -> Interaction:
        """Delete one's own follow-up record (its author only). last_followup_at stays:
        it says when the customer was last followed up as far as anyone knew."""
        interaction = self._own_interaction(actor, interaction_id)
        now = as_utc(now or utcnow())
        self.interactions = [i for i in self.interactions if i.id != interaction_id]
        self.interactions_changed = True
        self.updated_at = now
        self._emit("interaction.deleted", {
            "interaction_id": interaction.id, "created_by": interaction.created_by,
            "deleted_by": actor.user_id})
        self._record(actor.user_id, "interaction_deleted",
                     {"interactions": [interaction.id, None]}, now)
        return interaction

    def _own_interaction(self, actor: Identity, interaction_id: str) -> Interaction:
        """The caller's own follow-up: 404 if the customer or the record is not there for
        them, 403 if it is someone else's."""
        seen = require_visible(self, actor)
        if seen not in ("admin", "owner", "superior", "sharee"):
            raise NotFound("No such follow-up record. / 跟进记录不存在。")
        found = [i for i in self.interactions or () if i.id == interaction_id]
        if not found:
            raise NotFound("No such follow-up record. / 跟进记录不存在。")
        if found[0].created_by != actor.user_id:
            raise Forbidden("Only its author may change or delete a follow-up record. "
                            "/ 只有记录人可以修改或删除跟进记录。", code="not_author")
        return found[0]

    def _check_interaction(self, values: dict, now: datetime) -> None:
        if values.get("occurred_at") and values["occurred_at"] > now + FUTURE_TOLERANCE:
            raise Invalid("occurred_at", "A follow-up cannot happen in the future. "
                                         "/ 跟进时间不能晚于当前时间。")
        known = {c.id for c in self.contacts}
        unknown = [c for c in values.get("contact_ids") or () if c not in known]
        if unknown:
            raise Invalid("contact_ids", f"Not contacts of this customer: {', '.join(unknown)}")

    @staticmethod
    def _interaction_data(interaction: Interaction) -> dict:
        return {
            "interaction_id": interaction.id, "occurred_at": isoformat(interaction.occurred_at),
            "method": interaction.method, "subject": interaction.subject,
            "attitude": interaction.attitude, "contact_ids": interaction.contact_ids,
            "opportunity_id": interaction.opportunity_id,
            "next_action": interaction.next_action,
            "next_action_due": plain(interaction.next_action_due),
            "location": interaction.location, "participants": list(interaction.participants),
            "created_by": interaction.created_by}

    def record_task_followup(self, event_id: str, *, completed_at: datetime, task_id: str,
                             actor_id: str | None, now: datetime | None = None) -> bool:
        """A completed task about this customer counts as a follow-up. Once per event."""
        if not self._consume(event_id):
            return False
        now = as_utc(now or utcnow())
        completed_at = min(as_utc(completed_at), now)
        change = self._followed_up(completed_at, now)
        if change:
            self._record(actor_id, "followup_recorded",
                         {**change, "task_id": [None, task_id]}, now)
            self._emit("customer.updated", {"changes": change, "reason": "task_completed",
                                            "task_id": task_id})
        return True

    def record_deal(self, event_id: str, *, amount: Decimal, signed_on: date | None,
                    opportunity_id: str | None, actor_id: str | None,
                    now: datetime | None = None) -> bool:
        """An opportunity was won: status deal, deal_amount grows. Once per event."""
        if not self._consume(event_id):
            return False
        now = as_utc(now or utcnow())
        amount = Decimal(amount).quantize(Decimal("0.01"))
        changes: dict[str, list] = {}
        if self.status != "deal":
            changes["status"] = [self.status, "deal"]
            self.status = "deal"
        if amount:
            new_total = self.deal_amount + amount
            changes["deal_amount"] = [plain(self.deal_amount), plain(new_total)]
            self.deal_amount = new_total
        if signed_on and (self.last_deal_on is None or signed_on > self.last_deal_on):
            changes["last_deal_on"] = [plain(self.last_deal_on), plain(signed_on)]
            self.last_deal_on = signed_on
        self.updated_at = now
        self._record(actor_id, "deal_won",
                     {**changes, "opportunity_id": [None, opportunity_id]}, now)
        self._emit("customer.updated", {"changes": changes, "reason": "opportunity_won",
                                        "opportunity_id": opportunity_id})
        return True

    # --- internals ----------------------------------------------------------------------

    def _consume(self, event_id: str) -> bool:
        """False for an event this customer applied already (or a deleted customer)."""
        if self.deleted or event_id in self.seen_events:
            return False
        self.seen_events.append(event_id)
        return True

    def _followed_up(self, at: datetime, now: datetime) -> dict:
        """Move last_followup_at forward to `at`; returns the change ({} if none)."""
        before = self.last_followup_at
        self.updated_at = now
        if before is not None and at <= as_utc(before):
            return {}
        self.last_followup_at = at
        return {"last_followup_at": [plain(before), plain(at)]}

    def _changing(self) -> None:
        """Raise the version once per command: with its first log entry or event. A
        command starts with neither (the runner saves them and clears them), and one
        that records nothing changed nothing."""
        if not self.log and not self.events:
            self.version += 1

    def _record(self, actor_id: str | None, action: str, changes: dict, now: datetime,
                **extra) -> None:
        self._changing()
        entry = {"at": now, "actor_id": actor_id, "action": action, "changes": plain(changes)}
        entry.update({k: v for k, v in extra.items() if v is not None})
        self.log.append(entry)

    def snapshot(self) -> dict:
        """What every customer.* event carries, so a subscriber can keep its own copy."""
        return {
            "customer_id": self.id, "id": self.id, "number": self.number, "name": self.name,
            "industry": self.industry, "status": self.status, "level": self.level,
            "source": self.source, "tags": list(self.tags), "region": self.region,
            "owner_id": self.owner_id, "owner_team": self.owner_team,
            "owner_region": self.owner_region, "owner_name": self.owner_name,
            "shared_with": list(self.shared_with), "shared_teams": list(self.shared_teams),
            "deal_amount": plain(self.deal_amount),
            "currency": self.currency, "last_deal_on": plain(self.last_deal_on),
            "last_followup_at": plain(self.last_followup_at),
            "created_by": self.created_by, "created_at": plain(self.created_at),
            "contact_ids": [c.id for c in self.contacts],
            # the version this change saves: subscribers keep the newest state when
            # events arrive out of order
            "version": self.version,
        }

    def _emit(self, event_type: str, data: dict) -> None:
        self._changing()
        payload = self.snapshot() if event_type.startswith("customer.") else {
            "customer_id": self.id, "owner_id": self.owner_id, "owner_team": self.owner_team,
            "owner_region": self.owner_region}
        if event_type.startswith("contact."):
            # the customer's contacts after the change, at the version this change saves:
            # a copy (the opportunity service's) keeps the newest list
            payload.update(contact_ids=[c.id for c in self.contacts], version=self.version)
        elif event_type.startswith("interaction."):
            payload["version"] = self.version   # orders a follow-up's events
        payload.update(data)
        self.events.append(DomainEvent(type=event_type, aggregate_id=self.id,
                                       data=payload, region=self.region))
