"""Helpers for the tasks integration tests: times, bus spies, outside events, people."""
from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from kombu import Queue

from crm_testing import eventually
from event_data import envelope
from crmkit.bus.connection import connect
from crmkit.bus.publisher import Publisher
from crmkit.bus.topology import events_exchange
from crmkit.mongo import get_database

TEAM1 = "east/shanghai/team-1"
TEAM2 = "east/shanghai/team-2"


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def later(**delta) -> str:
    return iso(now() + timedelta(**delta))


def tasks_db(settings):
    return get_database(settings.mongo_url, settings.database_name("tasks"))


def known_to_tasks(settings, *sessions) -> None:
    """Wait until the tasks service's user directory has heard of these users."""
    users = tasks_db(settings)["users"]
    for session in sessions:
        eventually(lambda: users.find_one({"_id": session.id}), timeout=10,
                   message=f"tasks service knows user {session.user.get('username')}")


def known_to_tasks_as_customer(settings, *customer_ids) -> None:
    """Wait until the tasks service has heard of these customers (by their events)."""
    records = tasks_db(settings)["customer_owners"]
    for customer_id in customer_ids:
        eventually(lambda: records.find_one({"_id": customer_id, "owner_id": {"$exists": True}}),
                   timeout=10, message=f"tasks service knows customer {customer_id}")


def customer_of(amqp_url: str, settings, owner, *, shared_with=(), customer_id=None) -> str:
    """A customer of `owner` as the customer service announces one (customer.created
    with its snapshot), once the tasks service knows it: tasks may link it."""
    customer_id = customer_id or f"cust-{uuid.uuid4().hex[:10]}"
    publish(amqp_url, "customer.created", {
        "customer_id": customer_id, "id": customer_id, "name": "商策科技",
        "owner_id": owner.id, "owner_team": owner.user["team"],
        "owner_region": owner.user["region"], "region": owner.user["region"],
        "shared_with": [s.id for s in shared_with], "version": 1, "in_pool": False},
        aggregate_id=customer_id, actor_id=owner.id, producer="customer")
    known_to_tasks_as_customer(settings, customer_id)
    return customer_id


def opportunity_of(amqp_url: str, settings, owner, customer_id: str) -> str:
    """An opportunity of `owner` as the opportunity service announces one, once the
    tasks service knows it."""
    opportunity_id = f"opp-{uuid.uuid4().hex[:10]}"
    publish(amqp_url, "opportunity.created", {
        "opportunity_id": opportunity_id, "name": "ERP 采购项目", "customer_id": customer_id,
        "owner_id": owner.id, "owner_team": owner.user["team"],
        "owner_region": owner.user["region"], "region": owner.user["region"],
        "version": 1}, aggregate_id=opportunity_id, actor_id=owner.id,
        producer="opportunity")
    records = tasks_db(settings)["opportunities"]
    eventually(lambda: records.find_one({"_id": opportunity_id}), timeout=10,
               message=f"tasks service knows opportunity {opportunity_id}")
    return opportunity_id


class Spy:
    """An outside subscriber's own queue on crm.events, as another system would bind."""

    def __init__(self, connection, routing_key: str):
        self.channel = connection.channel()
        self.queue = Queue(f"test.tasks.spy.{uuid.uuid4().hex}", exchange=events_exchange,
                           routing_key=routing_key, exclusive=True, auto_delete=True)
        self.bound = self.queue(self.channel)
        self.bound.declare()
        self.seen: list[dict] = []

    def drain(self) -> list[dict]:
        while True:
            message = self.bound.get(no_ack=True)
            if message is None:
                return self.seen
            self.seen.append(json.loads(message.body))

    def wait_for(self, count: int, timeout: float = 10.0, where=lambda e: True) -> list[dict]:
        eventually(lambda: len([e for e in self.drain() if where(e)]) >= count,
                   timeout=timeout, message=f"{count} events on {self.queue.routing_key}")
        return [e for e in self.seen if where(e)]


@contextmanager
def spying(amqp_url: str, *routing_keys: str):
    with connect(amqp_url) as connection:
        spies = [Spy(connection, key) for key in routing_keys]
        yield spies[0] if len(spies) == 1 else spies


def publish(amqp_url: str, event_type: str, data: dict, *, aggregate_id: str,
            actor_id: str | None = None, producer: str = "test", event_id: str | None = None,
            region: str | None = "east") -> dict:
    """Put an event on crm.events as its producing service would (`data` completed and
    checked: `event_data`)."""
    built = envelope(event_type, data, aggregate_id=aggregate_id, actor_id=actor_id,
                     producer=producer, region=region, event_id=event_id)
    publisher = Publisher(amqp_url)
    try:
        publisher.publish(built)
    finally:
        publisher.close()
    return built


def reminders_swept(author, spy) -> None:
    """Waits until a reminder due after every reminder so far has fired (a task of
    `author`, who should be nobody the test counts): the sweep that fired it came after
    the others, so a reminder fired twice or not yet has shown by then. Its own event is
    taken out of what `spy` (on reminder.due) has seen."""
    reply = author.post("/api/v1/tasks", json={
        "title": "marker", "type": "call", "due_at": later(days=1),
        "reminders": [{"remind_at": later(seconds=2)}]})
    assert reply.status_code == 201, reply
    marker = reply.json["id"]
    spy.wait_for(1, timeout=30, where=lambda e: e["data"]["task_id"] == marker)
    spy.seen = [e for e in spy.seen if e["data"]["task_id"] != marker]
