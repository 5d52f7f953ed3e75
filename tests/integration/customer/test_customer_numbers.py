"""Customer numbers: CRM + organisation-local date + daily serial, unique under load."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from crm_testing import Session, flask_transport

from customer_helpers import CUSTOMERS, Clock, customer_body, identity, service_handlers


def test_concurrent_creates_get_unique_consecutive_numbers(corg, csys):
    rep = corg.user("rep")
    sessions = [Session(flask_transport(csys.gateway.test_client()), rep.token, rep.user)
                for _ in range(30)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        replies = list(pool.map(lambda s: s.post(CUSTOMERS, json=customer_body()), sessions))
    assert [r.status_code for r in replies] == [201] * 30
    numbers = [r.json["number"] for r in replies]
    assert len(set(numbers)) == 30
    serials = sorted(int(n[11:]) for n in numbers)
    assert serials == list(range(serials[0], serials[0] + 30))
    assert all(re.fullmatch(r"CRM\d{12}", n) for n in numbers)


def test_numbers_restart_each_local_day():
    clock = Clock(datetime(2026, 11, 22, 15, 58, tzinfo=timezone.utc))  # 23:58 Shanghai
    handlers = service_handlers(clock)
    rep = identity("rep1")
    first = handlers.create_customer(customer_body(), rep)
    second = handlers.create_customer(customer_body(), rep)
    clock.now = datetime(2026, 11, 22, 16, 1, tzinfo=timezone.utc)      # 00:01 next day
    third = handlers.create_customer(customer_body(), rep)
    assert [first.number, second.number, third.number] == [
        "CRM202611220001", "CRM202611220002", "CRM202611230001"]


def test_a_day_past_9999_keeps_numbering():
    clock = Clock(datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc))
    handlers = service_handlers(clock)
    handlers.repository.names.counters.insert_one({"_id": "customer-number:20261123", "seq": 9998})
    rep = identity("rep1")
    numbers = [handlers.create_customer(customer_body(), rep).number for _ in range(2)]
    assert numbers == ["CRM202611239999", "CRM2026112310000"]
    assert handlers.load("CRM2026112310000").number == "CRM2026112310000"
