"""Who may do what with a task, and which customers and opportunities it may link.

A task is seen (and worked on) by its assignee and its creator, their superiors (while
the organisation's 上下级强制共享 is on: crmkit.visibility.is_superior), and, while it
sits in the task pool, by supervisors and up of its region. Who may give whom a task
goes by rank whatever that setting says (crmkit.visibility.outranks). The same rule as a
Mongo filter lives in the repository (`visibility_filter`); a test keeps the two equal.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from crmkit.errors import Forbidden, Invalid, NotFound
from crmkit.identity import Identity
from crmkit.visibility import Owner, is_superior, may_work_on, outranks

if TYPE_CHECKING:
    from services.tasks.domain import Task


def can_view(viewer: Identity, task: Task) -> bool:
    """A rep: tasks assigned to or created by them. Superiors: their team's (by the
    assignee or the creator). The pool: supervisors and up of the task's region."""
    if viewer.role == "admin":
        return True
    if viewer.user_id in (task.assignee_id, task.created_by):
        return True
    if task.assignee_id is None:
        return viewer.at_least("supervisor") and task.region == viewer.region
    return is_superior(viewer, task.assignee) or is_superior(viewer, task.creator)


def can_edit(viewer: Identity, task: Task) -> bool:
    # Whoever may see a task may work on it: the assignee, its creator, their superiors.
    return can_view(viewer, task)


def require_can_view(viewer: Identity, task: Task) -> None:
    if not can_view(viewer, task):
        raise NotFound("No such task. 任务不存在。")


def require_can_edit(viewer: Identity, task: Task) -> None:
    require_can_view(viewer, task)
    if not can_edit(viewer, task):
        raise Forbidden("You may not change this task. 无权修改该任务。")


def same_team(actor: Identity, assignee: Owner) -> bool:
    """A colleague in the actor's own team (the same team path)."""
    return bool(actor.team) and assignee.team == actor.team


def require_may_assign_to(actor: Identity, assignee: Owner) -> None:
    """Oneself; a colleague in one's own team (reps too: seed 003 团队协作); anyone a
    supervisor or above is superior to."""
    if assignee.user_id == actor.user_id or same_team(actor, assignee):
        return
    if not actor.at_least("supervisor"):
        raise Forbidden("A rep may give tasks only to colleagues in their own team. "
                        "销售只能把任务指派给本团队的同事。", code="assign_not_allowed")
    if not outranks(actor, assignee):   # authority, whatever 上下级强制共享 says
        raise Forbidden("That user is outside your team. 该用户不在您的管理范围内。",
                        code="assignee_out_of_scope")


# ---------------------------------------------------------------- what a task may link

@dataclass(frozen=True)
class Linkable:
    """A customer or opportunity as the tasks service knows it from events."""
    owner: Owner | None          # None: unowned (a customer in the pool)
    region: str | None = None
    shared_with: tuple[str, ...] = ()
    shared_teams: tuple[str, ...] = ()   # team paths (CONTRACT §11)


def linkable_customer(owner: Owner | None, region: str | None,
                      shared_with=(), shared_teams=()) -> Linkable:
    # A customer in the pool shows even its sharees only its public view (customer
    # service): nobody but an admin, or a supervisor+ handing it out, works on it.
    if not owner:
        return Linkable(owner, region)
    return Linkable(owner, region, tuple(shared_with or ()), tuple(shared_teams or ()))


def may_link(viewer: Identity, record: Linkable | None) -> bool:
    """The rule every service builds on records by (crmkit.visibility.may_work_on):
    completing a task writes a follow-up into its customers' history, so linking is
    exactly as wide as seeing."""
    return record is not None and may_work_on(viewer, record.owner, record.region,
                                              record.shared_with, record.shared_teams)


def require_may_link(viewer: Identity, *, customers: dict[str, Linkable | None] | None = None,
                     opportunity: tuple[str, Linkable | None] | None = None) -> None:
    """422 naming the field, as for a customer an opportunity may not use: a record the
    caller may not see is answered as absent (CONTRACT §2), never as forbidden."""
    errors: dict[str, list[str]] = {}
    hidden = [cid for cid, record in (customers or {}).items() if not may_link(viewer, record)]
    if hidden:
        errors["customer_ids"] = [f"Unknown customer: {', '.join(hidden)}. "
                                  "客户不存在或无权查看。"]
    if opportunity is not None and not may_link(viewer, opportunity[1]):
        errors["opportunity_id"] = ["Unknown opportunity. 商机不存在或无权查看。"]
    if errors:
        raise Invalid(errors, code="unknown_customer" if hidden else "unknown_opportunity")

