"""Who may see and change quotes and contracts: they follow the customer (CONTRACT §3, §9).

Reading: the customer's owner, its sharees, the owner's superiors, admins; while the
customer is in the pool, supervisors and up of its region (and its sharees). Changing
(and creating): the owner, the owner's superiors, admins; while the customer is in the
pool, supervisors and up of its region. Sharees read only (403). What the caller may
not read is answered as absent (404), never as 403. `repository.read_filter` is the
same rule as a database filter.
"""
from __future__ import annotations

from crmkit.errors import Forbidden, Invalid, NotFound
from crmkit.identity import Identity
from crmkit.visibility import can_see_unowned, is_superior, may_work_on

from services.contracts.ownership import Owned


def can_read(viewer: Identity, record: Owned) -> bool:
    return may_work_on(viewer, record.owner, record.region, record.shared_with,
                       record.shared_teams)


def can_edit(viewer: Identity, record: Owned) -> bool:
    if record.owner_id is None:
        return can_see_unowned(viewer, record.region)
    return viewer.user_id == record.owner_id or is_superior(viewer, record.owner)


def require_read(viewer: Identity, record, what: str = "Record / 记录"):
    if record is None or not can_read(viewer, record):
        raise NotFound(f"{what} not found. / 不存在或无权查看。", code="not_found")
    return record


def require_edit(viewer: Identity, record, what: str = "Record / 记录"):
    require_read(viewer, record, what)
    if not can_edit(viewer, record):
        raise Forbidden("Only the customer's owner, their superiors and admins may change "
                        "this. / 仅客户负责人、其上级和管理员可修改。", code="forbidden")
    return record


def require_customer(viewer: Identity, customer: Owned | None,
                     field: str = "customer_id") -> Owned:
    """A customer to build on: unknown or invisible is 422 naming the field; visible but
    not the caller's to change (a sharee) is 403."""
    if customer is None or not can_read(viewer, customer):
        raise Invalid({field: ["Unknown customer. / 客户不存在或无权查看。"]},
                      code="unknown_customer")
    if not can_edit(viewer, customer):
        raise Forbidden("Only the customer's owner, their superiors and admins may make "
                        "quotes and contracts for it. / 仅客户负责人、其上级和管理员可操作。",
                        code="forbidden")
    return customer
