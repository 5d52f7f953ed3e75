"""Who is calling: the identity a verified token carries, and the role order."""
from __future__ import annotations

from dataclasses import dataclass

ROLES = ("rep", "supervisor", "manager", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


def role_at_least(role: str, minimum: str) -> bool:
    return _RANK.get(role, -1) >= _RANK[minimum]


@dataclass(frozen=True)
class Identity:
    user_id: str
    username: str
    name: str
    role: str
    team: str
    region: str
    timezone: str = "Asia/Shanghai"

    def at_least(self, minimum: str) -> bool:
        return role_at_least(self.role, minimum)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"
