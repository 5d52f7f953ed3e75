"""Who may open, read and change opportunities (CONTRACT §3).

Reading follows the customer: the owner, sharees of the customer, the owner's superiors
and admins; an unowned opportunity (its customer is in the pool) is for supervisors and
up of its region. Changing: the owner, their superiors and admins (sharees read only).
What the caller may not read is answered as absent (404), never as 403.
`repository.read_filter` is the same rule as a database filter.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crmkit.errors import Forbidden, Invalid, NotFound
from crmkit.identity import Identity
from crmkit.visibility import can_see, can_see_unowned, is_superior, may_work_on

from services.opportunity.customers import CustomerRef

if TYPE_CHECKING:
    from services.opportunity.opportunity import Opportunity


def can_use_customer(viewer: Identity, customer: CustomerRef | None) -> bool:
    """May the viewer open an opportunity on this customer? Full visibility per CONTRACT
    §3 (owner, sharees, the owner's superiors, admins); an unclaimed customer only for
    supervisors and up (the opportunity starts unowned)."""
    owned = customer is not None and customer.owner is not None
    return customer is not None and may_work_on(
        viewer, customer.owner, customer.region,
        customer.shared_with if owned else (), customer.shared_teams if owned else ())


def require_customer(viewer: Identity, customer: CustomerRef | None) -> CustomerRef:
    if not can_use_customer(viewer, customer):
        raise Invalid({"customer_id": ["Unknown customer. 客户不存在或无权查看。"]},
                      code="unknown_customer")
    return customer


def can_read(viewer: Identity, opp: Opportunity) -> bool:
    if opp.owner_id is None:
        return may_work_on(viewer, None, opp.region, opp.shared_with, opp.shared_teams)
    return can_see(viewer, opp.owner, opp.shared_with, opp.shared_teams)


def can_edit(viewer: Identity, opp: Opportunity) -> bool:
    """Owner, the owner's superiors, admins. Sharees read only."""
    if opp.owner_id is None:
        return can_see_unowned(viewer, opp.region)
    return viewer.user_id == opp.owner_id or is_superior(viewer, opp.owner)


def require_read(viewer: Identity, opp: Opportunity | None) -> Opportunity:
    if opp is None or not can_read(viewer, opp):
        raise NotFound("Opportunity not found. 商机不存在。", code="not_found")
    return opp


def require_edit(viewer: Identity, opp: Opportunity | None) -> Opportunity:
    require_read(viewer, opp)
    if not can_edit(viewer, opp):
        raise Forbidden("Only the owner, their superiors and admins may change this "
                        "opportunity. 仅负责人、其上级和管理员可修改。", code="forbidden")
    return opp
