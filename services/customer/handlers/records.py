"""Creating, reading and editing a customer record; its change log; name duplicates."""
from __future__ import annotations

from crmkit.errors import Conflict, Forbidden, Invalid
from crmkit.events import to_envelopes
from crmkit.identity import Identity
from crmkit.visibility import Owner

from services.customer import fields as F
from services.customer import naming, numbering
from services.customer.access import can_edit, require_full, require_may_set
from services.customer.domain import Customer
from services.customer.handlers.base import PRODUCER, HandlerBase, match_summary, new_id


class RecordHandlers(HandlerBase):
    def create_customer(self, command: dict, actor: Identity) -> Customer:
        command = dict(command)
        in_pool = bool(command.pop("in_pool", False))
        owner_id = command.pop("owner_id", None)
        require_may_set(actor, command)  # refuse before using a number
        F.clean_customer(command, partial=False)
        self.require_dictionary(command)
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
                owner, owner_name = self.owner(owner_id, "owner_id")
        normalized = naming.normalize_name(command["name"])
        self._refuse_duplicate(normalized, None)
        now = self.now()
        day = numbering.number_day(now, self.tz)
        number = numbering.format_number(day, self.repository.names.next_serials(
            numbering.day_key(day)))
        customer = Customer.create(actor, command, customer_id=number, number=number,
                                   contact_id=new_id(), now=now, in_pool=in_pool,
                                   owner=owner, owner_name=owner_name)
        self._reserve(normalized, customer.id)
        try:
            self.repository.insert(customer, to_envelopes(
                customer.events, producer=PRODUCER, actor_id=actor.user_id))
        except Exception:
            self.repository.names.release(normalized, customer.id)
            raise
        return customer

    def get_customer(self, customer_id: str, viewer: Identity) -> tuple[Customer, str]:
        return self.load_visible(customer_id, viewer)

    def update_customer(self, customer_id: str, data: dict, actor: Identity, *,
                        expected_version: int | None = None) -> Customer:
        renamed: dict = {}
        self.require_dictionary(data)

        def edit(customer: Customer):
            old = naming.normalize_name(customer.name)
            if "name" in data and isinstance(data["name"], str) and can_edit(customer, actor):
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
                self.repository.names.release(renamed["new"], customer_id)
            raise
        if renamed:
            self.repository.names.release(renamed["old"], customer_id)
        return customer

    def history(self, customer_id: str, viewer: Identity) -> list[dict]:
        _, seen = self.load_visible(customer_id, viewer)
        require_full(seen)
        return self.repository.history(customer_id)

    def duplicates(self, name: str) -> list[dict]:
        """Customers that are likely the company `name`, best match first."""
        candidates = self.repository.duplicate_candidates(name)
        by_id = {d["_id"]: d for d in candidates}
        matches = naming.likely_duplicates(name, [(d["_id"], d["name"]) for d in candidates])
        return [{**match_summary(by_id[m.id]), "reason": m.reason, "score": m.score}
                for m in matches]

    # ---- the company name is unique

    def _refuse_duplicate(self, normalized: str, own_id: str | None) -> None:
        holder = self.repository.names.holders([normalized]).get(normalized)
        if holder and holder != own_id:
            self._duplicate(holder)

    def _reserve(self, normalized: str, customer_id: str) -> None:
        holder = self.repository.names.reserve(normalized, customer_id, self.now())
        if holder:
            self._duplicate(holder)

    def _duplicate(self, holder_id: str):
        matches = [match_summary(d) for d in self.repository.find_by_ids([holder_id])] or [
            {"id": holder_id}]
        raise Conflict("A customer with this name already exists. / 已存在同名客户。",
                       code="duplicate_customer", matches=matches)
