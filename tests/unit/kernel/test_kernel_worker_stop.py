"""A stopping worker waits for its components to finish what they hold (a consumer
handles and acknowledges its prefetched messages before returning) within one deadline,
where it used to give each thread 5 s and then exit with handlers cut short."""
from __future__ import annotations

import threading
import time

from crmkit.service import Worker


def test_stop_waits_for_a_component_finishing_its_work():
    worker = Worker.__new__(Worker)         # only what stop() uses
    worker.stop_event, worker.relay = threading.Event(), None
    finished = threading.Event()

    def consumer():
        worker.stop_event.wait()
        time.sleep(6.0)                     # handling the messages it still holds
        finished.set()

    worker.threads = [threading.Thread(target=consumer, daemon=True)]
    worker.threads[0].start()
    worker.stop()
    assert finished.is_set()
