"""Who may see and do what with a customer (CONTRACT §3, §4 and the users' manual 004).

- A customer with an owner is seen in full by the owner, the users it is shared with
  (共享: read and log follow-ups, never edit), the members of the teams it is shared
  with and of the teams below them (also sharees), the owner's superiors (supervisor of
  the owner's team or above it, manager of the owner's region; only while the
  organisation's 上下级强制共享 is on, crmkit.visibility) and admins; anyone else gets
  404, as if it did not exist.
- A customer in the pool (no owner, 未领用) shows its public view to everyone; only an
  admin sees more, because nobody is responsible for it yet.
- Editing (record, contacts, shares): owner, superiors, admins.
- deal_amount, last_deal_on (kept by won opportunities) and region (the owner's unless
  decided otherwise) are set by hand by managers and admins only: 403 field_not_allowed.
- The pool (every customer's public view) matches, filters and sorts on public fields
  only, so it tells nobody about contacts, phones, deals or follow-ups they may not see.

The pool actions' own rules (claim, return, recover, assign, delete) are in
`ownership.py`.
"""
from __future__ import annotations

from crmkit.errors import Forbidden, NotFound
from crmkit.identity import Identity
from crmkit.visibility import is_sharee, is_superior

FULL, PUBLIC, HIDDEN = "full", "public", "hidden"
EDITORS = ("admin", "owner", "superior")

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


def relation(customer, viewer: Identity) -> str:
    """admin | owner | superior | sharee | public | hidden."""
    if customer.deleted:
        return HIDDEN
    if viewer.is_admin:
        return "admin"
    if not customer.claimed:
        return PUBLIC
    if customer.owner_id == viewer.user_id:
        return "owner"
    if is_superior(viewer, customer.owner):   # not while 上下级强制共享 is off
        return "superior"
    if is_sharee(viewer, customer.shared_with, customer.shared_teams):
        return "sharee"
    return HIDDEN


def view(customer, viewer: Identity) -> str:
    """full | public | hidden (404) for `viewer` reading `customer`."""
    seen = relation(customer, viewer)
    return seen if seen in (HIDDEN, PUBLIC) else FULL


def not_found() -> NotFound:
    return NotFound("Customer not found. / 客户不存在。", code="not_found")


def require_visible(customer, actor: Identity) -> str:
    """The caller's relation to the customer; 404 if they may not see it at all."""
    seen = relation(customer, actor)
    if seen == HIDDEN:
        raise not_found()
    return seen


def require_editor(customer, actor: Identity) -> str:
    seen = require_visible(customer, actor)
    if seen not in EDITORS:
        raise Forbidden(forbidden_message(seen), code="forbidden")
    return seen


def can_edit(customer, viewer: Identity) -> bool:
    return relation(customer, viewer) in EDITORS


def require_full(seen: str) -> None:
    """403 unless `seen` (a `view`) is the full record."""
    if seen != FULL:
        raise Forbidden("This customer is in the pool: only its public view is shown; "
                        "claim it first. / 客户池中的客户只能查看公开信息,请先领用。")


def forbidden_message(seen: str) -> str:
    if seen == "sharee":
        return ("This customer is shared with you: you may read it and log follow-ups, "
                "not change it. / 共享客户只能查看和记录跟进,不能修改。")
    if seen == PUBLIC:
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


def public_view(customer) -> dict:
    """The 公开信息 of a customer, plus whether and by whom it is claimed."""
    out = {name: getattr(customer, name) for name in PUBLIC_FIELDS}
    out["tags"] = list(customer.tags)
    out["claimed"] = customer.claimed
    out["owner_name"] = customer.owner_name
    return out
