"""Structured logs: one JSON object a line, with the request / correlation id."""
from __future__ import annotations

import json
import logging
import os
import sys

from crmkit.context import current_correlation_id


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
                 "service": self.service, "logger": record.name, "msg": record.getMessage(),
                 "request_id": current_correlation_id()}
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(service: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("CRM_LOG_LEVEL", "INFO"))
    for noisy in ("amqp", "kombu", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
