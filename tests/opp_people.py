"""People, customers and a factory for the opportunity domain tests."""
from datetime import date

from people import NOW, owner_of, person  # noqa: F401  (NOW and owner_of: the tests' names)
from services.opportunity.customers import CustomerRef
from services.opportunity.opportunity import Opportunity
from services.opportunity.pipeline import Pipeline


REP = person("rep1", "rep", "east/shanghai/team-1")
TEAMMATE = person("rep2", "rep", "east/shanghai/team-1")
OTHER_REP = person("rep3", "rep", "east/hangzhou/team-2")
SUPERVISOR = person("sup1", "supervisor", "east/shanghai")
OTHER_SUPERVISOR = person("sup2", "supervisor", "east/hangzhou")
WEST_SUPERVISOR = person("sup3", "supervisor", "west/chengdu", region="west")
MANAGER = person("mgr1", "manager", "east")
WEST_MANAGER = person("mgr2", "manager", "west", region="west")
ADMIN = person("adm", "admin", "hq", region="hq")


def customer_of(identity=REP, *, customer_id="c1", shared_with=(), region="east"):
    owner = owner_of(identity) if identity else None
    return CustomerRef(id=customer_id, owner=owner, region=region,
                       shared_with=tuple(shared_with), name="华东精密制造有限公司")


def open_opportunity(viewer=REP, customer=None, pipeline=None, **fields):
    return Opportunity.open(
        viewer=viewer, customer=customer or customer_of(REP), pipeline=pipeline or Pipeline(),
        name="A公司2026年设备采购项目", amount=fields.pop("amount", "120000.50"),
        expected_close_date=fields.pop("expected_close_date", date(2026, 12, 31)),
        now=fields.pop("now", NOW), **fields)

