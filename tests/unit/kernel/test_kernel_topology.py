"""The RabbitMQ topology in code, and the broker definitions deploy/ ships."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from crmkit.bus.topology import DLX, EXCHANGE, QueueNames, definitions

DEPLOYED = Path(__file__).resolve().parents[3] / "deploy" / "rabbitmq" / "definitions.json"


@pytest.fixture
def defs():
    return definitions({"billing": ["order.placed", "order.paid", "order.placed"],
                        "audit": ["#"]}, queue_type="quorum")


def _queues(d):
    return {q["name"]: q for q in d["queues"]}


def test_exchanges_are_the_durable_topic_and_the_dead_letter_one(defs):
    exchanges = {e["name"]: e for e in defs["exchanges"]}
    assert exchanges[EXCHANGE]["type"] == "topic" and exchanges[EXCHANGE]["durable"]
    assert exchanges[DLX]["type"] == "direct" and exchanges[DLX]["durable"]


def test_each_consuming_service_has_main_retry_and_parking_queues(defs):
    assert set(_queues(defs)) == {
        "crm.billing", "crm.billing.retry", "crm.billing.parking",
        "crm.audit", "crm.audit.retry", "crm.audit.parking"}
    assert all(q["durable"] and not q["auto_delete"] for q in defs["queues"])


def test_queue_arguments_wire_retries_and_dead_letters(defs):
    queues, names = _queues(defs), QueueNames("billing")
    assert queues[names.main]["arguments"] == {
        "x-dead-letter-exchange": DLX, "x-dead-letter-routing-key": names.parking,
        "x-queue-type": "quorum"}
    # The retry queue's messages expire back into the main queue.
    assert queues[names.retry]["arguments"] == {
        "x-dead-letter-exchange": "", "x-dead-letter-routing-key": names.main,
        "x-queue-type": "quorum"}
    assert queues[names.parking]["arguments"] == {"x-queue-type": "quorum"}


def test_classic_queues_have_no_type_argument():
    classic = _queues(definitions({"billing": ["a.b"]}, queue_type="classic"))
    assert "x-queue-type" not in classic["crm.billing"]["arguments"]
    assert classic["crm.billing.parking"]["arguments"] == {}


def test_bindings_route_each_subscribed_type_once_and_park_through_the_dlx(defs):
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in defs["bindings"]}
    assert bindings == {
        (EXCHANGE, "crm.billing", "order.paid"), (EXCHANGE, "crm.billing", "order.placed"),
        (DLX, "crm.billing.parking", "crm.billing.parking"),
        (EXCHANGE, "crm.audit", "#"), (DLX, "crm.audit.parking", "crm.audit.parking")}
    assert len(defs["bindings"]) == len(bindings)  # no duplicate binding


def _shape(d):
    queues = {q["name"] for q in d["queues"]}
    bindings = {(b["source"], b["destination"], b["routing_key"]) for b in d["bindings"]}
    return queues, bindings


def test_deployed_definitions_match_what_the_code_declares():
    if not DEPLOYED.exists():
        pytest.skip(f"{DEPLOYED} does not exist yet (deploy/ is written by the lead)")
    from crm.system import subscriptions   # the services' composition roots

    deployed_queues, deployed_bindings = _shape(json.loads(DEPLOYED.read_text()))
    code_queues, code_bindings = _shape(definitions(subscriptions(), queue_type="quorum"))
    assert sorted(deployed_queues ^ code_queues) == [], "queues differ (deploy vs code)"
    assert sorted(deployed_bindings - code_bindings) == [], "bindings only in deploy/"
    assert sorted(code_bindings - deployed_bindings) == [], "bindings only in the code"
