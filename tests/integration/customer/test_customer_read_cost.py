"""Reading one customer costs one database round trip: the record carries its contacts,
shares and owner, and the visibility check runs on it (no share rows, contacts, settings
or directory read apart). A second command per read would double FerretDB's share of a
GET, the largest one (deploy/README.md, "Why a second API process adds little")."""
from __future__ import annotations

import pymongo
import pytest
from pymongo import monitoring

from crmkit.directory import UserDirectory
from crmkit.errors import NotFound
from crmkit.identity import Identity
from crmkit.settings import OrgSettings

from customer_helpers import create
from services.customer.handlers import CustomerHandlers
from services.customer.repository import CustomerRepository


class CommandLog(monitoring.CommandListener):
    """The names of the commands a client sent (`find`, `update`, ...)."""

    def __init__(self):
        self.names: list[str] = []

    def started(self, event):
        self.names.append(event.command_name)

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.fixture(scope="module")
def counted(customer_settings):
    """The customer use cases on a client of their own that logs every command."""
    log = CommandLog()
    client = pymongo.MongoClient(customer_settings.mongo_url, tz_aware=True,
                                 event_listeners=[log])
    db = client[customer_settings.database_name("customer")]
    handlers = CustomerHandlers(CustomerRepository(db), UserDirectory(db),
                                org_settings=OrgSettings(db))
    yield handlers, log
    client.close()


def identity_of(session) -> Identity:
    me = session.user
    return Identity(me["id"], me["username"], me["name"], me["role"], me["team"],
                    me["region"])


def test_reading_a_customer_is_one_find(corg, counted):
    handlers, log = counted
    rep = corg.user("rep")
    customer = create(rep)
    log.names.clear()
    read, seen = handlers.get_customer(customer["id"], identity_of(rep))
    assert (read.id, seen) == (customer["id"], "full")
    assert log.names == ["find"]


def test_a_hidden_customer_costs_the_same_one_find(corg, counted):
    handlers, log = counted
    owner, stranger = corg.user("rep"), corg.user("rep", team="west/chengdu/team-9",
                                                  region="west")
    customer = create(owner)
    log.names.clear()
    with pytest.raises(NotFound):
        handlers.get_customer(customer["id"], identity_of(stranger))
    assert log.names == ["find"]
