"""Gunicorn inside the `crm` command (no preload: each worker builds its own app)."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from crmkit.start_up import freeze_start_up
from gateway.limits import SERVER_LIMITS


class GunicornApp(BaseApplication):
    def __init__(self, factory, options: dict):
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self):
        return self._factory()


def serve(factory, *, bind: str, workers: int = 1, threads: int = 8, quiet: bool = False,
          **extra) -> None:
    # the gateway answers over-long URIs and headers itself, as problem+json
    options = {**SERVER_LIMITS, "bind": bind, "workers": workers, "threads": threads,
               "worker_class": "gthread", "timeout": 60, "graceful_timeout": 10,
               "keepalive": 5, "accesslog": None if quiet else "-",
               "access_log_format": '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s',
               "errorlog": "-", "loglevel": "warning", "proc_name": extra.pop("name", "crm"),
               "post_worker_init": freeze_start_up,
               **extra}
    GunicornApp(factory, options).run()
