"""Every long-running process keeps its start-up objects out of later garbage
collections: each API worker once its app is built, each `crm worker` before it starts."""
from __future__ import annotations

import gc
import signal
from types import SimpleNamespace

from crm import cli, serving
from crmkit.start_up import freeze_start_up


def test_start_up_objects_are_left_out_of_later_collections():
    built_at_start_up = [[n] for n in range(1000)]   # lists: tracked by the collector
    assert any(o is built_at_start_up[0] for o in gc.get_objects())
    try:
        freeze_start_up()
        assert gc.get_freeze_count() >= len(built_at_start_up)
        collected = gc.get_objects()   # every generation a collection walks
        assert not any(o is built_at_start_up[0] or o is built_at_start_up[-1]
                       for o in collected)
    finally:
        gc.unfreeze()


def test_crm_serve_runs_it_in_each_worker_once_the_app_is_built(monkeypatch):
    seen = {}
    monkeypatch.setattr(serving.GunicornApp, "run",
                        lambda app: seen.update(hook=app.cfg.post_worker_init,
                                                preload=app.cfg.preload_app))
    serving.serve(lambda: None, bind="127.0.0.1:0")
    assert seen == {"hook": freeze_start_up, "preload": False}


def test_crm_worker_runs_it_once_built_before_it_starts(monkeypatch):
    seen = []

    class Worker:
        def declare_topology(self):
            seen.append(("declared", gc.get_freeze_count()))

        def start(self):
            seen.append(("started", gc.get_freeze_count()))

        def stop(self):
            seen.append(("stopped", gc.get_freeze_count()))

    module = SimpleNamespace(create_worker=lambda: seen.append(
        ("built", gc.get_freeze_count())) or Worker())
    monkeypatch.setattr("crm.system.app_module", lambda name: module)
    monkeypatch.setattr("crmkit.logs.configure_logging", lambda name: None)  # global
    # SIGTERM at once: the worker stops as soon as it has started
    monkeypatch.setattr(signal, "signal", lambda signum, handler: handler(signum, None))
    gc.unfreeze()
    try:
        assert cli.main(["worker", "tasks"]) == 0
        assert [step for step, _ in seen] == ["built", "declared", "started", "stopped"]
        assert seen[0][1] == 0 and all(frozen > 0 for _, frozen in seen[1:])
    finally:
        gc.unfreeze()
