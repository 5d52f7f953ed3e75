"""The tasks list query admits exactly what the domain's can_view admits, on the server."""
import pytest

from crm_testing import fresh_database
from services.tasks.repository import visibility_filter
from task_people import EXPECTED_VISIBLE, PEOPLE, sample_tasks


@pytest.mark.parametrize("viewer", sorted(EXPECTED_VISIBLE))
def test_the_mongo_filter_admits_exactly_what_can_view_admits(viewer):
    coll = fresh_database("tasks")["tasks"]
    for name, t in sample_tasks().items():
        coll.insert_one({"_id": name, "assignee_id": t.assignee_id,
                         "assignee_team": t.assignee_team,
                         "assignee_region": t.assignee_region, "created_by": t.created_by,
                         "creator_team": t.creator_team, "creator_region": t.creator_region,
                         "region": t.region})
    found = {d["_id"] for d in coll.find(visibility_filter(PEOPLE[viewer]))}
    assert found == EXPECTED_VISIBLE[viewer]
