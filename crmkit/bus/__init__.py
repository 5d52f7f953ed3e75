"""The event bus: topology, publisher with confirms, outbox relay, consumers, parking."""
from crmkit.bus.connection import connect
from crmkit.bus.publisher import Publisher, Unroutable
from crmkit.bus.topology import EXCHANGE, DLX, QueueNames

__all__ = ["connect", "Publisher", "Unroutable", "EXCHANGE", "DLX", "QueueNames"]
