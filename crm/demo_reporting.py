"""`crm up --demo`: sales targets for the demo organisation, through the public API only,
so that the performance report shows attainment from the first login."""
from __future__ import annotations

import time
from datetime import date

# monthly target per rep, in yuan; teams and regions get the sums for the quarter / year
REP_MONTHLY_TARGET = 200_000


def _put(session, body: dict, attempts: int = 25) -> bool:
    """PUT /targets, waiting a moment if reporting has not seen the user's event yet."""
    for _ in range(attempts):
        reply = session.put("/api/v1/targets", json=body)
        if reply.status_code == 200:
            return True
        if reply.status_code != 422:
            return False
        time.sleep(0.2)
    return False


def load(org, people) -> None:
    today = date.today()
    month = f"{today.year:04d}-{today.month:02d}"
    quarter = f"{today.year:04d}-Q{(today.month - 1) // 3 + 1}"
    admin = org.admin
    teams: dict[str, int] = {}
    regions: dict[str, int] = {}
    for rep in people.get("rep", []):
        user = rep.user
        _put(admin, {"period": month, "owner_id": rep.id, "amount": REP_MONTHLY_TARGET})
        _put(admin, {"period": quarter, "owner_id": rep.id,
                     "amount": 3 * REP_MONTHLY_TARGET})
        teams[user.get("team")] = teams.get(user.get("team"), 0) + 3 * REP_MONTHLY_TARGET
        regions[user.get("region")] = regions.get(user.get("region"), 0) + \
            12 * REP_MONTHLY_TARGET
    for team, amount in teams.items():
        if team:
            _put(admin, {"period": quarter, "team": team, "amount": amount})
    for region, amount in regions.items():
        if region:
            _put(admin, {"period": str(today.year), "region": region, "amount": amount})
