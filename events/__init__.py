"""The event contracts: the `data` schema of every domain event, one per type and version.

One package outside any service, because an event has one schema shared by its producer
and every consumer: the producer validates what it publishes (`crmkit.events.make_envelope`),
each consumer what it receives (`crmkit.bus.consumer`), and the AsyncAPI catalog lists
them (`crmkit.catalog`). Importing this package registers them all, in every process.

A new version of an event is a new schema registered with `version=2` beside the old one.
"""
from events import contracts, customer, identity, opportunity, tasks  # noqa: F401  (registers them)
