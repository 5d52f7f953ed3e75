"""Who owns a customer: the pool actions of the aggregate and the rules of claiming.

- claim (领用): anyone, for a pool customer, within the claim limit and cool-down;
- return (归还): owner or superior; recover (收回): supervisor+ over a visible owner;
  assign (指派): the owner, or a supervisor+ for a visible or pool customer;
- share (共享) / unshare: editors; a sharee may also leave a share;
- delete: supervisor+, pool customers only (已领用的客户不能删除);
- auto-reclaim: what the scheduler decided (`reclaim.decide`), done as the system.

`Ownership` is a part of the `Customer` aggregate (domain.py), kept apart because it is
the pool's own set of rules; it uses the aggregate's `_record` and `_emit`.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from crmkit.clock import as_utc, utcnow
from crmkit.errors import Conflict, Forbidden, Invalid, NotFound
from crmkit.identity import Identity
from crmkit.visibility import Owner

from services.customer.access import (EDITORS, forbidden_message, not_found, relation,
                                      require_editor, require_visible)
from services.customer.reclaim import PoolRules, ReclaimDecision
from services.customer.validation import refuse_sensitive

MAX_RELEASES = 20          # cool-down memory: the last owners who gave the customer up


def require_share_targets(user_ids, teams) -> None:
    """A share names at least one user or team (one customer or many in bulk)."""
    if not user_ids and not teams:
        raise Invalid("user_ids", "Give at least one user id or team. "
                                  "/ 请至少指定一个用户或团队。")


# --- the rules of claiming ---------------------------------------------------------------

def check_claim_limit(rules: PoolRules, owned_count: int) -> None:
    """409 claim_limit_reached when the caller already owns `claim_limit` customers."""
    if rules.claim_limit is not None and owned_count >= rules.claim_limit:
        raise Conflict(
            f"You already own {owned_count} customers; the limit is {rules.claim_limit}. "
            f"/ 已领用客户数已达上限 {rules.claim_limit}。",
            code="claim_limit_reached", limit=rules.claim_limit)


def cooldown_ends(rules: PoolRules, releases, user_id: str) -> datetime | None:
    """When `user_id` may claim again a customer they gave up, or None if free now."""
    if not rules.reclaim_cooldown_days:
        return None
    latest = None
    for release in releases or ():
        if release.get("user_id") == user_id:
            at = as_utc(release["at"])
            latest = at if latest is None or at > latest else latest
    if latest is None:
        return None
    return latest + timedelta(days=rules.reclaim_cooldown_days)


def check_cooldown(rules: PoolRules, releases, user_id: str, now: datetime) -> None:
    """409 claim_cooldown while the previous owner's cool-down runs."""
    ends = cooldown_ends(rules, releases, user_id)
    if ends is not None and as_utc(now) < ends:
        raise Conflict(
            "You gave this customer up recently; you may claim it again after "
            f"{ends.isoformat(timespec='minutes')}. / 冷却期内不能再次领用该客户。",
            code="claim_cooldown", until=ends.isoformat(timespec="seconds"))


# --- the pool actions of the aggregate ---------------------------------------------------

class Ownership:
    """The pool actions of `Customer`."""

    @property
    def owner(self) -> Owner:
        return Owner(self.owner_id, self.owner_team, self.owner_region)

    @property
    def claimed(self) -> bool:
        return self.owner_id is not None

    def claim(self, actor: Identity, *, rules: PoolRules, owned_count: int,
              now: datetime | None = None) -> None:
        """领用: a pool customer becomes the caller's."""
        now = as_utc(now or utcnow())
        if self.deleted:
            raise not_found()
        if self.claimed:
            raise Conflict("This customer has already been claimed. / 该客户已被领用。",
                           code="already_claimed")
        check_cooldown(rules, self.releases, actor.user_id, now)
        check_claim_limit(rules, owned_count)
        self._set_owner(Owner(actor.user_id, actor.team, actor.region), actor.name, now)
        self.updated_at = now
        self._record(actor.user_id, "claimed", {"owner_id": [None, actor.user_id]}, now)
        self._emit("customer.claimed", {"previous_owner_id": None})

    def return_to_pool(self, actor: Identity, *, reason: str | None = None,
                       now: datetime | None = None) -> None:
        """归还: the owner (or a superior) puts the customer back into the pool."""
        self._require_claimed_and_visible(actor)
        seen = relation(self, actor)
        if seen not in ("owner", "superior", "admin"):
            raise Forbidden(forbidden_message(seen))
        self._release(actor.user_id, "returned", "customer.returned", _reason(reason),
                      as_utc(now or utcnow()), extra={"auto": False})

    def recover(self, actor: Identity, *, reason: str | None = None,
                now: datetime | None = None) -> None:
        """收回: a supervisor or above takes the customer back from a visible owner."""
        self._require_claimed_and_visible(actor)
        if not actor.at_least("supervisor"):
            raise Forbidden("Only a supervisor or above may recover customers. "
                            "/ 只有主管及以上可以收回客户。")
        seen = relation(self, actor)
        if seen not in ("owner", "superior", "admin"):
            raise Forbidden(forbidden_message(seen))
        self._release(actor.user_id, "recovered", "customer.recovered", _reason(reason),
                      as_utc(now or utcnow()), extra={})

    def assign(self, actor: Identity, target: Owner, target_name: str | None = None, *,
               now: datetime | None = None) -> None:
        """指派: hand the customer to `target`; the previous owner loses access."""
        now = as_utc(now or utcnow())
        seen = require_visible(self, actor)
        if not self.claimed:
            if not actor.at_least("supervisor"):
                raise Forbidden("Only a supervisor or above may assign pool customers; "
                                "claim it instead. / 只有主管及以上可以指派客户池中的客户。")
        elif seen not in EDITORS:
            raise Forbidden(forbidden_message(seen))
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

    def share(self, actor: Identity, user_ids: list[str], *, teams: list[str] = (),
              now: datetime | None = None) -> list[str]:
        """共享: sharees may read and log follow-ups. A team path shares with every
        present and future member of that team and of the teams below it (CONTRACT
        §11). Returns the users newly added."""
        now = as_utc(now or utcnow())
        self._require_claimed_and_visible(actor)
        require_editor(self, actor)
        user_ids, teams = list(user_ids or ()), list(teams or ())
        require_share_targets(user_ids, teams)
        if not all(isinstance(u, str) and u for u in user_ids):
            raise Invalid("user_ids", "Give at least one user id.")
        added = [u for u in dict.fromkeys(user_ids)
                 if u != self.owner_id and u not in self.shared_with]
        added_teams = [t for t in dict.fromkeys(teams) if t not in self.shared_teams]
        if not added and not added_teams:
            return []
        changes = {}
        if added:
            changes["shared_with"] = [list(self.shared_with), self.shared_with + added]
            self.shared_with = self.shared_with + added
        if added_teams:
            changes["shared_teams"] = [list(self.shared_teams), self.shared_teams + added_teams]
            self.shared_teams = self.shared_teams + added_teams
        self.updated_at = now
        self._record(actor.user_id, "shared", changes, now)
        self._emit("customer.shared", {"user_ids": added, "teams": added_teams})
        return added

    def unshare_team(self, actor: Identity, team: str, *, now: datetime | None = None) -> None:
        """Stop sharing with a team (its members who are not sharees otherwise lose it)."""
        now = as_utc(now or utcnow())
        require_visible(self, actor)
        require_editor(self, actor)
        if team not in self.shared_teams:
            raise NotFound("This customer is not shared with that team. / 未共享给该团队。",
                           code="not_shared")
        before = list(self.shared_teams)
        self.shared_teams = [t for t in before if t != team]
        self.updated_at = now
        self._record(actor.user_id, "unshared", {"shared_teams": [before, self.shared_teams]},
                     now)
        self._emit("customer.unshared", {"user_ids": [], "teams": [team]})

    def unshare(self, actor: Identity, user_id: str, *, now: datetime | None = None) -> None:
        """Stop sharing with `user_id`; a sharee may also leave a share themselves."""
        now = as_utc(now or utcnow())
        seen = require_visible(self, actor)
        leaving = seen == "sharee" and user_id == actor.user_id
        if not leaving:
            require_editor(self, actor)
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
            raise not_found()
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

    # --- internals ----------------------------------------------------------------------

    def _require_claimed_and_visible(self, actor: Identity) -> None:
        if self.deleted:
            raise not_found()
        if not self.claimed:
            raise Conflict("This customer is in the pool, not claimed. / 该客户未被领用。",
                           code="not_claimed")
        require_visible(self, actor)

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
        if self.shared_teams:
            changes["shared_teams"] = [list(self.shared_teams), []]
        self.owner_id = self.owner_team = self.owner_region = self.owner_name = None
        self.owned_since = None
        self.shared_with = []  # a pool customer has no sharees: they would see it in full
        self.shared_teams = []
        self.reclaim_warned_for = None
        self.updated_at = now
        self._record(actor_id, action, changes, now, reason=reason)
        self._emit(event_type, {"previous_owner_id": previous, "reason": reason, **extra})


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
