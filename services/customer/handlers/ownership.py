"""The pool actions (claim, return, recover, assign, share, delete), one by one or in
bulk."""
from __future__ import annotations

import time
from datetime import timedelta

from crmkit.errors import Conflict, DomainError, Invalid
from crmkit.identity import Identity
from crmkit.scheduling import Lease

from services.customer import naming
from services.customer.domain import Customer
from services.customer.handlers.base import HandlerBase, new_id
from services.customer.ownership import require_share_targets


class OwnershipHandlers(HandlerBase):
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
        self.load_visible(customer_id, actor)  # 404 before "unknown user"
        owner, name = self.owner(user_id)
        return self.change(customer_id, actor, lambda c: c.assign(
            actor, owner, name, now=self.now()))[0]

    def share(self, customer_id: str, actor: Identity, user_ids: list[str],
              teams: list[str] = ()) -> Customer:
        self.load_visible(customer_id, actor)
        for user_id in dict.fromkeys(user_ids):
            self.user(user_id, "user_ids")
        return self.change(customer_id, actor, lambda c: c.share(
            actor, user_ids, teams=teams, now=self.now()))[0]

    def unshare_team(self, customer_id: str, actor: Identity, team: str) -> Customer:
        return self.change(customer_id, actor, lambda c: c.unshare_team(
            actor, team, now=self.now()))[0]

    def unshare(self, customer_id: str, actor: Identity, user_id: str) -> Customer:
        return self.change(customer_id, actor, lambda c: c.unshare(
            actor, user_id, now=self.now()))[0]

    def delete(self, customer_id: str, actor: Identity) -> Customer:
        customer, _ = self.change(customer_id, actor, lambda c: c.delete(
            actor, now=self.now()))
        self.repository.names.release(naming.normalize_name(customer.name), customer.id)
        return customer

    def bulk(self, action: str, ids: list[str], actor: Identity, user_ids=None,
             reason=None, teams=None) -> list[dict]:
        """Each id on its own; `assign` over several users deals the ids round-robin;
        `share` shares each with `user_ids` and / or `teams` as one share does."""
        if action == "assign" and not user_ids:
            raise Invalid("user_ids", "Required for assign. / 指派需要 user_ids。")
        if action == "share":
            require_share_targets(user_ids, teams)
        results = []
        for position, customer_id in enumerate(dict.fromkeys(ids)):
            user_id = user_ids[position % len(user_ids)] if action == "assign" else None
            try:
                if action == "claim":
                    self.claim(customer_id, actor)
                elif action == "return":
                    self.return_customer(customer_id, actor, reason)
                elif action == "recover":
                    self.recover(customer_id, actor, reason)
                elif action == "assign":
                    self.assign(customer_id, actor, user_id)
                elif action == "share":
                    self.share(customer_id, actor, user_ids or [], teams or [])
                elif action == "delete":
                    self.delete(customer_id, actor)
                else:
                    raise Invalid("action", "Unknown action.")
                item = {"id": customer_id, "ok": True}
                if user_id is not None:
                    item["user_id"] = user_id
                results.append(item)
            except DomainError as error:
                results.append({"id": customer_id, "ok": False, "code": error.code,
                                "detail": error.detail})
        return results
