"""Helpers of the customer integration tests (a uniquely named module, not conftest)."""
from __future__ import annotations

import json
import time
import uuid

from kombu import Queue

from crmkit.bus.connection import connect
from crmkit.bus.topology import events_exchange
from crm_testing import fresh_database
from people import person
from sample_files import multipart  # noqa: F401 - the one multipart builder, re-exported

CUSTOMERS = "/api/v1/customers"


def unique_name(stem: str = "测试") -> str:
    # Letters of a uuid survive normalisation, so each test's companies are distinct.
    return f"{stem}{uuid.uuid4().hex[:8]}科技有限公司"


def customer_body(**overrides) -> dict:
    body = {"name": unique_name(), "industry": "软件", "status": "potential",
            "primary_contact": {"name": "王经理", "phone": "13812345678"}}
    body.update(overrides)
    return body


def create(session, **overrides) -> dict:
    reply = session.post(CUSTOMERS, json=customer_body(**overrides))
    assert reply.status_code == 201, reply
    return reply.json


def url(customer, suffix: str = "") -> str:
    return f"{CUSTOMERS}/{customer['id'] if isinstance(customer, dict) else customer}{suffix}"


class EventSpy:
    """An outside subscriber: its own queue bound to crm.events, as another system."""

    def __init__(self, amqp_url: str, routing_key: str = "#"):
        self.amqp_url = amqp_url
        self.routing_key = routing_key
        self.seen: list[dict] = []

    def __enter__(self):
        self.connection = connect(self.amqp_url)
        self.queue = Queue(f"test.customer.spy.{time.time_ns()}", exchange=events_exchange,
                           routing_key=self.routing_key, exclusive=True, auto_delete=True)
        self.bound = self.queue(self.connection.default_channel)
        self.bound.declare()
        return self

    def __exit__(self, *exc):
        self.connection.release()

    def drain(self) -> list[dict]:
        while True:
            message = self.bound.get(no_ack=True)
            if message is None:
                return self.seen
            envelope = json.loads(message.body)
            envelope["_properties"] = dict(message.properties)
            self.seen.append(envelope)

    def of(self, event_type: str, aggregate_id: str | None = None) -> list[dict]:
        self.drain()
        return [e for e in self.seen if e["type"] == event_type and (
            aggregate_id is None or e["aggregate_id"] == aggregate_id)]


class StubDirectory:
    """Stands in for crmkit.directory.UserDirectory where no user events flow."""

    def __init__(self, users: dict | None = None):
        self.users = users or {}

    def get(self, user_id):
        profile = self.users.get(user_id)
        return {"id": user_id, **profile} if profile else None


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def service_handlers(clock=None, users=None, db=None):
    """The customer use cases over a fresh FerretDB database, no broker, no gateway."""
    from services.customer import schemas  # noqa: F401  (event schemas)
    from services.customer.handlers import CustomerHandlers
    from services.customer.repository import CustomerRepository

    db = db if db is not None else fresh_database("cust")
    repository = CustomerRepository(db)
    repository.ensure_indexes()
    kwargs = {"clock": clock} if clock else {}
    return CustomerHandlers(repository, StubDirectory(users), timezone="Asia/Shanghai",
                            **kwargs)


identity = person   # the one factory of test identities (tests/people.py)


def cast(corg, **more) -> dict:
    """The people of a visibility test around one owner in east/shanghai/team-1: a
    teammate, a sharee in another region, the owner's supervisor and manager, their
    counterparts elsewhere, the admin; `more` adds {name: (role, team[, region])}."""
    team = "east/shanghai/team-1"
    people = {
        "owner": corg.user("rep", team),
        "teammate": corg.user("rep", team),
        "sharee": corg.user("rep", "north/beijing/team-1", "north"),
        "supervisor": corg.user("supervisor", "east/shanghai"),
        "other_supervisor": corg.user("supervisor", "east/hangzhou"),
        "manager": corg.user("manager", "east", "east"),
        "other_manager": corg.user("manager", "north", "north"),
        "admin": corg.admin,
    }
    people.update({name: corg.user(*spec) for name, spec in more.items()})
    return people


def xlsx_bytes(rows: list[list]) -> bytes:
    import io

    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(session, content: bytes, filename: str, headers=None, **fields):
    body, content_type = multipart({k: str(v).lower() for k, v in fields.items()},
                                   {"file": (filename, content)})
    return session.request("POST", "/api/v1/customers/import", data=body,
                           content_type=content_type, headers=headers)
