"""Gunicorn settings shared by the gateway and the four service APIs.

Each `<service>.conf.py` beside this file calls `settings_for()` and is used as
`gunicorn -c deploy/gunicorn/<service>.conf.py` (the config names the WSGI factory, so no
app argument is needed). Everything an operator tunes comes from the environment, so one
image serves every replica:

  CRM_HTTP_BIND              listen address            default 0.0.0.0:<service port>
  CRM_HTTP_WORKERS           worker processes          default WEB_CONCURRENCY or 2
  CRM_HTTP_THREADS           threads per worker        default 4
  CRM_HTTP_TIMEOUT           silent-worker kill (s)    default 60
  CRM_HTTP_GRACEFUL_TIMEOUT  drain on SIGTERM (s)      default 30
  CRM_HTTP_KEEPALIVE         keep-alive (s)            default 5
  CRM_HTTP_MAX_REQUESTS      recycle a worker after N  default 0 (never)
  CRM_FORWARDED_ALLOW_IPS    trusted proxies           default 127.0.0.1,::1
  CRM_LOG_LEVEL              gunicorn log level        default info
"""
from __future__ import annotations

import os

from crmkit.start_up import freeze_start_up
from gateway.limits import SERVER_LIMITS

# Every app answers with X-Request-ID: the caller's id when it sent a valid one, else a
# new one. The gateway forwards its id to the service it calls, so logging the id each
# answered with puts one id on a request's lines in both logs (and it becomes the
# correlation_id of the events the request caused).
_ACCESS_LOG = ('%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({{x-request-id}}o)s '
               'service={service} pid=%(p)s ua="%(a)s"')


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be an integer, got {raw!r}") from None
    if value < 0:
        raise SystemExit(f"{name} must not be negative, got {value}")
    return value


def settings_for(service: str, *, wsgi_app: str, port: int) -> dict:
    workers = _int("CRM_HTTP_WORKERS", _int("WEB_CONCURRENCY", 2))
    return {
        "wsgi_app": wsgi_app,
        "proc_name": f"crm-{service}",
        "bind": [os.environ.get("CRM_HTTP_BIND") or f"0.0.0.0:{port}"],
        "workers": max(1, workers),
        "threads": max(1, _int("CRM_HTTP_THREADS", 4)),
        "worker_class": "gthread",
        "timeout": _int("CRM_HTTP_TIMEOUT", 60),
        "graceful_timeout": _int("CRM_HTTP_GRACEFUL_TIMEOUT", 30),
        "keepalive": _int("CRM_HTTP_KEEPALIVE", 5),
        "max_requests": _int("CRM_HTTP_MAX_REQUESTS", 0),
        "max_requests_jitter": _int("CRM_HTTP_MAX_REQUESTS", 0) // 10,
        # Each worker builds its own app (its own Mongo and AMQP connections): neither
        # survives a fork, so nothing is loaded in the master.
        "preload_app": False,
        "post_worker_init": freeze_start_up,
        # Heartbeat files on tmpfs: an overlay filesystem can stall them and get healthy
        # workers killed.
        "worker_tmp_dir": "/dev/shm" if os.path.isdir("/dev/shm") else None,
        "forwarded_allow_ips": os.environ.get("CRM_FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
        "accesslog": "-",
        "errorlog": "-",
        "loglevel": os.environ.get("CRM_LOG_LEVEL", "info"),
        "access_log_format": _ACCESS_LOG.format(service=service),
        # One container, one master: the runtime control socket (gunicorn >= 25) would
        # need a writable home directory and adds nothing that the orchestrator lacks.
        "control_socket_disable": True,
        # Above the gateway's own URI and header limits, so that clients get its
        # problem+json; gunicorn's text/html 414/431 only beyond these.
        **SERVER_LIMITS,
    }
