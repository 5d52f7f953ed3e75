"""Who is calling: the identity a verified token carries, and the role order."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

ROLES = ("rep", "supervisor", "manager", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}
# Team path segments: letters (any script), digits, '_', '-', '.'; no spaces.
TEAM_SEGMENT_PATTERN = re.compile(r"^[\w][\w.-]*$")
TEAM_MAX_LENGTH = 200


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
    # The organisation's 上下级强制共享 (CONTRACT §11, GET /settings) as it stood when the
    # gateway forwarded the request: when False a supervisor or manager sees by rank
    # nothing, only what is theirs or shared with them (crmkit.visibility). An admin
    # always sees everything.
    sees_subordinates: bool = True

    def at_least(self, minimum: str) -> bool:
        return role_at_least(self.role, minimum)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def clean_team(value: Any) -> str:
    """A slash path such as east/shanghai/team-1; stored lower-case, no outer slashes.

    Lower-case because visibility compares team prefixes exactly: "East/x" typed by one
    admin and "east/x" by another must be the same team.
    """
    message = ("团队是以 / 分隔的路径，如 east/shanghai/team-1 / "
               "The team is a slash path such as east/shanghai/team-1.")
    if not isinstance(value, str):
        raise ValueError(message)
    path = value.strip().strip("/").lower()
    if not path or len(path) > TEAM_MAX_LENGTH:
        raise ValueError(message)
    if not all(TEAM_SEGMENT_PATTERN.match(segment) for segment in path.split("/")):
        raise ValueError(message)
    return path
