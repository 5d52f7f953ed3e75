"""The customer pool: the Customer aggregate, its contacts, follow-up records and rules.

Who may do what (CONTRACT §3, §4 and the users' manual 004):
- a customer with an owner is seen in full by the owner, the users it is shared with
  (共享: read and log follow-ups, never edit), the owner's superiors (supervisor of the
  owner's team or above it, manager of the owner's region) and admins; anyone else gets
  404, as if it did not exist;
- a customer in the pool (no owner, 未领用) shows its public view to everyone; only an
  admin sees more, because nobody is responsible for it yet;
- editing (record, contacts, shares): owner, superiors, admins;
- claim (领用): anyone, for a pool customer, within the claim limit and cool-down;
- return (归还): owner or superior; recover (收回): supervisor+ over a visible owner;
  assign (指派): the owner, or a supervisor+ for a visible or pool customer;
- delete: supervisor+, pool customers only (已领用的客户不能删除);
- deal_amount, last_deal_on (kept by won opportunities) and region (the owner's unless
  decided otherwise) are set by hand by managers and admins only: 403 field_not_allowed;
- the pool (every customer's public view) matches, filters and sorts on public fields
  only, so it tells nobody about contacts, phones, deals or follow-ups they may not see.

Every change appends a change-log entry `{at, actor_id, action, changes}` to `log` and a
`DomainEvent` to `events`; the handler saves both with the state in one write.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields as dataclass_fields, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from crmkit.clock import as_utc, isoformat, utcnow
from crmkit.errors import Conflict, Forbidden, Invalid, NotFound
from crmkit.events import DomainEvent
from crmkit.identity import Identity
from crmkit.money import format_money
from crmkit.visibility import Owner, is_superior

from services.customer import fields as F
from services.customer import reclaim
from services.customer.reclaim import PoolRules, ReclaimDecision
from services.customer.validation import refuse_sensitive

# What the pool shows about a customer to people who may not see the record (公开信息).
PUBLIC_FIELDS = ("id", "number", "name", "industry", "status", "level", "source", "tags",
                 "size", "address", "region", "owner_id", "created_at", "updated_at")
# The list filters of CONTRACT §4 and the customer field each one reads. The pool lists
# every customer's public view: a filter reading a private field (and `q` on contacts and
# phones) finds only customers the caller sees in full (repository.customer_filter), or
# it would let a caller probe customers they may not see.
FILTER_FIELDS = {"status": "status", "level": "level", "industry": "industry", "tag": "tags",
                 "source": "source", "owner_id": "owner_id", "region": "region",
                 "created_from": "created_at", "created_to": "created_at",
                 "no_followup_since": "last_followup_at", "claimed": "owner_id"}
# Fields only a manager or admin sets by hand: won opportunities keep the deal fields
# (CONTRACT §5, through events); the region follows the owner unless a manager decides.
MANAGER_FIELDS = {
    "deal_amount": "Kept by won opportunities; only a manager or admin may correct it. "
                   "/ 由赢单自动更新,只有经理或管理员可以修改。",
    "last_deal_on": "Kept by won opportunities; only a manager or admin may correct it. "
                    "/ 由赢单自动更新,只有经理或管理员可以修改。",
    "region": "The region follows the owner's; only a manager or admin may set it. "
              "/ 区域默认取负责人的区域,只有经理或管理员可以设置。",
}
# Fields a change may touch, in the order the change log lists them.
TRACKED_FIELDS = ("name", "industry", "status", "level", "source", "source_detail", "tags",
                  "size", "address", "needs", "region", "primary_contact", "deal_amount",
                  "last_deal_on")
MAX_RELEASES = 20          # cool-down memory: the last owners who gave the customer up
MAX_APPLIED_EVENTS = 200   # ids of consumed events, for idempotent consumers
FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks differ a little; a follow-up is past

FULL, PUBLIC, HIDDEN = "full", "public", "hidden"


def plain(value):
    """A JSON- and Mongo-friendly copy of a value for change logs and event data."""
    if isinstance(value, Decimal):
        return format_money(value)
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


@dataclass
class Contact:
    id: str
    name: str
    title: str | None = None
    department: str | None = None
    role: str | None = None
    gender: str | None = None
    phone: str | None = None
    mobile: str | None = None
    email: str | None = None
    wechat: str | None = None
    birthday: date | None = None
    preference: str | None = None
    relationship: str | None = None
    notes: str | None = None
    is_primary: bool = False
    relations: list[dict] = field(default_factory=list)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def best_phone(self) -> str | None:
        return self.phone or self.mobile

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclass_fields(self)}


@dataclass
class Interaction:
    """A follow-up record (交往记录 / 跟进记录)."""

    id: str
    customer_id: str
    occurred_at: datetime
    method: str
    subject: str
    content: str
    created_by: str
    created_at: datetime
    feedback: str | None = None
    attitude: str | None = None
    next_action: str | None = None
    next_action_due: date | None = None
    contact_ids: list[str] = field(default_factory=list)
    opportunity_id: str | None = None

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in dataclass_fields(self)}


@dataclass
class Customer:
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
    contacts: list[Contact] = field(default_factory=list)
    deal_amount: Decimal = Decimal("0.00")
    currency: str = "CNY"
    last_deal_on: date | None = None
    last_followup_at: datetime | None = None
    version: int = 0
    deleted: bool = False
    deleted_at: datetime | None = None
    releases: list[dict] = field(default_factory=list)   # [{user_id, at, reason}]
    reclaim_warned_for: date | None = None
    applied_events: list[str] = field(default_factory=list)
    # What happened since the aggregate was loaded; saved with it in one write.
    events: list[DomainEvent] = field(default_factory=list, repr=False)
    log: list[dict] = field(default_factory=list, repr=False)
    new_interactions: list[Interaction] = field(default_factory=list, repr=False)

    # --- creation -----------------------------------------------------------------------

    @classmethod
    def create(cls, actor: Identity, data: dict, *, customer_id: str, number: str,
               contact_id: str, now: datetime | None = None, in_pool: bool = False,
               owner: Owner | None = None, owner_name: str | None = None) -> "Customer":
        """A new customer (新建 / 新建并领用).

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

    # --- who may see and do what --------------------------------------------------------

    @property
    def owner(self) -> Owner:
        return Owner(self.owner_id, self.owner_team, self.owner_region)

    @property
    def claimed(self) -> bool:
        return self.owner_id is not None

    def relation_to(self, viewer: Identity) -> str:
        """admin | owner | superior | sharee | public | hidden."""
        if self.deleted:
            return HIDDEN
        if viewer.is_admin:
            return "admin"
        if not self.claimed:
            return PUBLIC
        if self.owner_id == viewer.user_id:
            return "owner"
        if is_superior(viewer, self.owner):
            return "superior"
        if viewer.user_id in self.shared_with:
            return "sharee"
        return HIDDEN

    def _require_visible(self, actor: Identity) -> str:
        relation = self.relation_to(actor)
        if relation == HIDDEN:
            raise NotFound("Customer not found. / 客户不存在。", code="not_found")
        return relation

    def _require_editor(self, actor: Identity) -> str:
        relation = self._require_visible(actor)
        if relation not in ("admin", "owner", "superior"):
            raise Forbidden(_forbidden_message(relation), code="forbidden")
        return relation

    def can_edit(self, viewer: Identity) -> bool:
        return self.relation_to(viewer) in ("admin", "owner", "superior")

    # --- editing ------------------------------------------------------------------------

    def update(self, actor: Identity, data: dict, *, now: datetime | None = None) -> dict:
        """PATCH: apply changed fields; returns {field: [old, new]} (empty if nothing)."""
        self._require_editor(actor)
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

    # --- the pool -----------------------------------------------------------------------

    def claim(self, actor: Identity, *, rules: PoolRules, owned_count: int,
              now: datetime | None = None) -> None:
        """领用: a pool customer becomes the caller's."""
        now = as_utc(now or utcnow())
        if self.deleted:
            raise NotFound("Customer not found. / 客户不存在。")
        if self.claimed:
            raise Conflict("This customer has already been claimed. / 该客户已被领用。",
                           code="already_claimed")
        reclaim.check_cooldown(rules, self.releases, actor.user_id, now)
        reclaim.check_claim_limit(rules, owned_count)
        self._set_owner(Owner(actor.user_id, actor.team, actor.region), actor.name, now)
        self.updated_at = now
        self._record(actor.user_id, "claimed", {"owner_id": [None, actor.user_id]}, now)
        self._emit("customer.claimed", {"previous_owner_id": None})

    def return_to_pool(self, actor: Identity, *, reason: str | None = None,
                       now: datetime | None = None) -> None:
        """归还: the owner (or a superior) puts the customer back into the pool."""
        self._require_claimed_and_visible(actor)
        relation = self.relation_to(actor)
        if relation not in ("owner", "superior", "admin"):
            raise Forbidden(_forbidden_message(relation))
        reason = _reason(reason)
        self._release(actor.user_id, "returned", "customer.returned", reason,
                      as_utc(now or utcnow()), extra={"auto": False})

    def recover(self, actor: Identity, *, reason: str | None = None,
                now: datetime | None = None) -> None:
        """收回: a supervisor or above takes the customer back from a visible owner."""
        self._require_claimed_and_visible(actor)
        if not actor.at_least("supervisor"):
            raise Forbidden("Only a supervisor or above may recover customers. "
                            "/ 只有主管及以上可以收回客户。")
        relation = self.relation_to(actor)
        if relation not in ("owner", "superior", "admin"):
            raise Forbidden(_forbidden_message(relation))
        self._release(actor.user_id, "recovered", "customer.recovered", _reason(reason),
                      as_utc(now or utcnow()), extra={})

    def assign(self, actor: Identity, target: Owner, target_name: str | None = None, *,
               now: datetime | None = None) -> None:
        """指派: hand the customer to `target`; the previous owner loses access."""
        now = as_utc(now or utcnow())
        relation = self._require_visible(actor)
        if not self.claimed:
            if not actor.at_least("supervisor"):
                raise Forbidden("Only a supervisor or above may assign pool customers; "
                                "claim it instead. / 只有主管及以上可以指派客户池中的客户。")
        elif relation not in ("owner", "superior", "admin"):
            raise Forbidden(_forbidden_message(relation))
        if target.user_id is None:
            raise Invalid("user_id", "Missing data for required field.")
        if target.user_id == self.owner_id:
            raise Conflict("That user already owns this customer. / 该用户已是负责人。",
                           code="already_owner")
        previous = self.owner_id
        self._set_owner(target, target_name, now)
        self.shared_with = [u for u in self.shared_with if u not in (target.user_id,)]
        self.updated_at = now
        self._record(actor.user_id, "assigned", {"owner_id": [previous, target.user_id]}, now)
        self._emit("customer.assigned", {"previous_owner_id": previous})

    def share(self, actor: Identity, user_ids: list[str], *,
              now: datetime | None = None) -> list[str]:
        """共享: sharees may read and log follow-ups. Returns the users newly added."""
        now = as_utc(now or utcnow())
        self._require_claimed_and_visible(actor)
        self._require_editor(actor)
        if not user_ids or not all(isinstance(u, str) and u for u in user_ids):
            raise Invalid("user_ids", "Give at least one user id.")
        added = [u for u in dict.fromkeys(user_ids)
                 if u != self.owner_id and u not in self.shared_with]
        if not added:
            return []
        before = list(self.shared_with)
        self.shared_with = before + added
        self.updated_at = now
        self._record(actor.user_id, "shared", {"shared_with": [before, self.shared_with]}, now)
        self._emit("customer.shared", {"user_ids": added})
        return added

    def unshare(self, actor: Identity, user_id: str, *, now: datetime | None = None) -> None:
        """Stop sharing with `user_id`; a sharee may also leave a share themselves."""
        now = as_utc(now or utcnow())
        relation = self._require_visible(actor)
        leaving = relation == "sharee" and user_id == actor.user_id
        if not leaving:
            self._require_editor(actor)
        if user_id not in self.shared_with:
            raise NotFound("This customer is not shared with that user. / 未共享给该用户。",
                           code="not_shared")
        before = list(self.shared_with)
        self.shared_with = [u for u in before if u != user_id]
        self.updated_at = now
        self._record(actor.user_id, "unshared", {"shared_with": [before, self.shared_with]},
                     now)
        self._emit("customer.unshared", {"user_ids": [user_id]})

    def delete(self, actor: Identity, *, now: datetime | None = None) -> None:
        """Delete a pool customer (supervisor+); a claimed one cannot be deleted."""
        now = as_utc(now or utcnow())
        if self.deleted:
            raise NotFound("Customer not found. / 客户不存在。")
        if not actor.at_least("supervisor"):
            raise Forbidden("Only a supervisor or above may delete customers. "
                            "/ 只有主管及以上可以删除客户。")
        if self.claimed:
            raise Conflict("A claimed customer cannot be deleted; it must be returned to "
                           "the pool first. / 已领用的客户不能删除。", code="customer_claimed")
        self.deleted = True
        self.deleted_at = now
        self.updated_at = now
        self._record(actor.user_id, "deleted", {"deleted": [False, True]}, now)
        self._emit("customer.deleted", {})

    # --- auto-reclaim -------------------------------------------------------------------

    def apply_reclaim(self, decision: ReclaimDecision, *, now: datetime | None = None) -> bool:
        """Carry out a reclaim / warn decision of the scheduler. False if nothing to do."""
        now = as_utc(now or utcnow())
        if decision.action == "reclaim" and self.claimed and not self.deleted:
            self._release(None, "reclaimed", "customer.returned", "auto_reclaim", now,
                          extra={"auto": True, "rule": decision.reason,
                                 "due_on": decision.due_on.isoformat()})
            return True
        if decision.action == "warn" and self.claimed and not self.deleted:
            if self.reclaim_warned_for == decision.due_on:
                return False
            self.reclaim_warned_for = decision.due_on
            self._emit("customer.reclaim_warning", {
                "due_on": decision.due_on.isoformat(), "days_left": decision.days_left,
                "rule": decision.reason})
            return True
        return False

    # --- contacts -----------------------------------------------------------------------

    @property
    def primary_contact_entity(self) -> Contact | None:
        for contact in self.contacts:
            if contact.is_primary:
                return contact
        return self.contacts[0] if self.contacts else None

    @property
    def primary_contact(self) -> dict | None:
        contact = self.primary_contact_entity
        if contact is None:
            return None
        out = {"name": contact.name, "phone": contact.best_phone}
        if contact.email:
            out["email"] = contact.email
        if contact.title:
            out["title"] = contact.title
        return out

    def contact(self, contact_id: str) -> Contact:
        for contact in self.contacts:
            if contact.id == contact_id:
                return contact
        raise NotFound("Contact not found. / 联系人不存在。", code="not_found")

    def add_contact(self, actor: Identity, data: dict, *, contact_id: str,
                    now: datetime | None = None) -> Contact:
        self._require_editor(actor)
        now = as_utc(now or utcnow())
        values = F.clean_contact(data, partial=False)
        contact = Contact(id=contact_id, created_at=now, updated_at=now,
                          **{k: v for k, v in values.items() if v is not None})
        contact.relations = contact.relations or []
        if contact.is_primary and not contact.best_phone:
            raise Invalid("is_primary", "A primary contact needs a phone or mobile.")
        self.contacts.append(contact)
        if contact.is_primary:
            self._make_primary(contact)
        self.updated_at = now
        self._record(actor.user_id, "contact_created",
                     {f"contacts.{contact.id}": [None, _contact_summary(contact)]}, now)
        self._emit_contact("contact.created", contact)
        return contact

    def update_contact(self, actor: Identity, contact_id: str, data: dict, *,
                       now: datetime | None = None) -> Contact:
        self._require_editor(actor)
        now = as_utc(now or utcnow())
        contact = self.contact(contact_id)
        values = F.clean_contact(data, partial=True)
        before = _contact_summary(contact)
        make_primary = values.pop("is_primary", None)
        if make_primary is False and contact.is_primary:
            raise Conflict("Make another contact primary instead. / 请将其他联系人设为主联系人。",
                           code="primary_contact")
        if "relations" in values and values["relations"] is None:
            values["relations"] = []
        if "name" in values and not values["name"]:
            raise Invalid("name", F.REQUIRED)
        candidate = replace(contact, **values)
        if (contact.is_primary or make_primary) and not candidate.best_phone:
            raise Invalid("phone", "The primary contact needs a phone or mobile. "
                                   "/ 主联系人必须有电话。")
        for key, value in values.items():
            setattr(contact, key, value)
        if make_primary:
            self._make_primary(contact)
        after = _contact_summary(contact)
        if before == after and not values:
            return contact
        contact.updated_at = now
        self.updated_at = now
        self._record(actor.user_id, "contact_updated",
                     {f"contacts.{contact.id}": [before, after]}, now)
        self._emit_contact("contact.updated", contact)
        return contact

    def remove_contact(self, actor: Identity, contact_id: str, *,
                       now: datetime | None = None) -> None:
        self._require_editor(actor)
        now = as_utc(now or utcnow())
        contact = self.contact(contact_id)
        if contact.is_primary:
            raise Conflict("The primary contact cannot be deleted; make another contact "
                           "primary first. / 主联系人不能删除。", code="primary_contact")
        self.contacts = [c for c in self.contacts if c.id != contact_id]
        self.updated_at = now
        self._record(actor.user_id, "contact_deleted",
                     {f"contacts.{contact.id}": [_contact_summary(contact), None]}, now)
        self._emit("contact.deleted", {"contact_id": contact.id, "customer_id": self.id})

    def _make_primary(self, chosen: Contact) -> None:
        for contact in self.contacts:
            contact.is_primary = contact is chosen

    # --- follow-ups and deals -----------------------------------------------------------

    def log_interaction(self, actor: Identity, data: dict, *, interaction_id: str,
                        now: datetime | None = None) -> Interaction:
        """跟进记录: owner, sharees, superiors and admins; sets last_followup_at."""
        relation = self._require_visible(actor)
        if relation not in ("admin", "owner", "superior", "sharee"):
            raise Forbidden("Claim the customer before logging follow-ups. "
                            "/ 请先领用该客户再记录跟进。")
        now = as_utc(now or utcnow())
        values = F.clean_interaction(data)
        if values["occurred_at"] > now + FUTURE_TOLERANCE:
            raise Invalid("occurred_at", "A follow-up cannot happen in the future. "
                                         "/ 跟进时间不能晚于当前时间。")
        known = {c.id for c in self.contacts}
        unknown = [c for c in values["contact_ids"] if c not in known]
        if unknown:
            raise Invalid("contact_ids", f"Not contacts of this customer: {', '.join(unknown)}")
        interaction = Interaction(id=interaction_id, customer_id=self.id, created_by=actor.user_id,
                                  created_at=now, **values)
        followup_change = self._followed_up(interaction.occurred_at, now)
        self.new_interactions.append(interaction)
        self._emit("interaction.logged", {
            "interaction_id": interaction.id, "occurred_at": isoformat(interaction.occurred_at),
            "method": interaction.method, "subject": interaction.subject,
            "attitude": interaction.attitude, "contact_ids": interaction.contact_ids,
            "opportunity_id": interaction.opportunity_id,
            "next_action": interaction.next_action,
            "next_action_due": plain(interaction.next_action_due),
            "created_by": actor.user_id})
        self._record(actor.user_id, "interaction_logged",
                     {"interactions": [None, interaction.id], **followup_change}, now)
        return interaction

    def record_task_followup(self, event_id: str, *, completed_at: datetime, task_id: str,
                             actor_id: str | None, now: datetime | None = None) -> bool:
        """A completed task about this customer counts as a follow-up. Idempotent."""
        if self.deleted or event_id in self.applied_events:
            return False
        now = as_utc(now or utcnow())
        self._remember(event_id)
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
        """An opportunity was won: status deal, deal_amount grows. Once per event id."""
        if self.deleted or event_id in self.applied_events:
            return False
        now = as_utc(now or utcnow())
        self._remember(event_id)
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

    def owner_profile_changed(self, user_id: str, *, team: str | None, region: str | None,
                              name: str | None) -> bool:
        """Keep the denormalised owner team/region/name in step with the user record."""
        if self.owner_id != user_id:
            return False
        if (self.owner_team, self.owner_region, self.owner_name) == (team, region, name):
            return False
        self.owner_team, self.owner_region, self.owner_name = team, region, name
        return True

    # --- internals ----------------------------------------------------------------------

    def _require_claimed_and_visible(self, actor: Identity) -> None:
        if self.deleted:
            raise NotFound("Customer not found. / 客户不存在。")
        if not self.claimed:
            raise Conflict("This customer is in the pool, not claimed. / 该客户未被领用。",
                           code="not_claimed")
        self._require_visible(actor)

    def _set_owner(self, owner: Owner, owner_name: str | None, now: datetime) -> None:
        self.owner_id, self.owner_team, self.owner_region = (owner.user_id, owner.team,
                                                             owner.region)
        self.owner_name = owner_name
        self.owned_since = now
        self.reclaim_warned_for = None

    def _release(self, actor_id: str | None, action: str, event_type: str,
                 reason: str | None, now: datetime, *, extra: dict) -> None:
        previous = self.owner_id
        self.releases = (self.releases + [{"user_id": previous, "at": now,
                                           "reason": action}])[-MAX_RELEASES:]
        changes = {"owner_id": [previous, None]}
        if self.shared_with:
            changes["shared_with"] = [list(self.shared_with), []]
        self.owner_id = self.owner_team = self.owner_region = self.owner_name = None
        self.owned_since = None
        self.shared_with = []  # a pool customer has no sharees: they would see it in full
        self.reclaim_warned_for = None
        self.updated_at = now
        self._record(actor_id, action, changes, now, reason=reason)
        self._emit(event_type, {"previous_owner_id": previous, "reason": reason, **extra})

    def _followed_up(self, at: datetime, now: datetime) -> dict:
        """Move last_followup_at forward to `at`; returns the change ({} if none)."""
        before = self.last_followup_at
        self.updated_at = now
        if before is not None and at <= as_utc(before):
            return {}
        self.last_followup_at = at
        return {"last_followup_at": [plain(before), plain(at)]}

    def _remember(self, event_id: str) -> None:
        self.applied_events = (self.applied_events + [event_id])[-MAX_APPLIED_EVENTS:]

    def _record(self, actor_id: str | None, action: str, changes: dict, now: datetime,
                **extra) -> None:
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
            "shared_with": list(self.shared_with), "deal_amount": plain(self.deal_amount),
            "currency": self.currency, "last_deal_on": plain(self.last_deal_on),
            "last_followup_at": plain(self.last_followup_at),
            "created_by": self.created_by, "created_at": plain(self.created_at),
            # The version the document has once this change is saved (one save per
            # command): subscribers keep the newest state when events arrive out of order.
            "version": self.version + 1,
        }

    def _emit(self, event_type: str, data: dict) -> None:
        payload = self.snapshot() if event_type.startswith("customer.") else {
            "customer_id": self.id, "owner_id": self.owner_id, "owner_team": self.owner_team,
            "owner_region": self.owner_region}
        payload.update(data)
        self.events.append(DomainEvent(type=event_type, aggregate_id=self.id,
                                       data=payload, region=self.region))

    def _emit_contact(self, event_type: str, contact: Contact) -> None:
        self._emit(event_type, {
            "contact_id": contact.id, "name": contact.name, "title": contact.title,
            "department": contact.department, "role": contact.role,
            "relationship": contact.relationship, "is_primary": contact.is_primary})


def _contact_summary(contact: Contact) -> dict:
    return {k: plain(v) for k, v in contact.as_dict().items()
            if k not in ("id", "created_at", "updated_at") and v not in (None, [])}


def _reason(reason) -> str | None:
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise Invalid("reason", "Must be text.")
    reason = reason.strip()
    if len(reason) > 500:
        raise Invalid("reason", "At most 500 characters.")
    refuse_sensitive({"reason": reason})
    return reason or None


def _forbidden_message(relation: str) -> str:
    if relation == "sharee":
        return ("This customer is shared with you: you may read it and log follow-ups, "
                "not change it. / 共享客户只能查看和记录跟进,不能修改。")
    if relation == PUBLIC:
        return "This customer is in the pool; claim it first. / 该客户在客户池中,请先领用。"
    return "You may not do this. / 没有权限。"


def fields_not_allowed(actor: Identity, data: dict) -> list[str]:
    """The fields of a create or edit that `actor`'s role may not set by hand."""
    if actor.at_least("manager"):
        return []
    return [name for name in MANAGER_FIELDS if name in data]


def require_may_set(actor: Identity, data: dict) -> None:
    """403 `field_not_allowed` naming each field the caller's role may not set."""
    refused = fields_not_allowed(actor, data)
    if refused:
        raise Forbidden(f"Only a manager or admin may set: {', '.join(refused)}. "
                        f"/ 只有经理或管理员可以设置:{'、'.join(refused)}。",
                        code="field_not_allowed",
                        errors={name: [MANAGER_FIELDS[name]] for name in refused})


def view(customer: Customer, viewer: Identity) -> str:
    """full | public | hidden (404) for `viewer` reading `customer`."""
    relation = customer.relation_to(viewer)
    if relation == HIDDEN:
        return HIDDEN
    if relation == PUBLIC:
        return PUBLIC
    return FULL


def public_view(customer: Customer) -> dict:
    """The 公开信息 of a customer, plus whether and by whom it is claimed."""
    out = {name: getattr(customer, name) for name in PUBLIC_FIELDS}
    out["tags"] = list(customer.tags)
    out["claimed"] = customer.claimed
    out["owner_name"] = customer.owner_name
    return out
