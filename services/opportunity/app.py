"""Composition root of the opportunity service (walking skeleton: health only so far)."""
from __future__ import annotations

from crmkit.config import Settings
from crmkit.service import ServiceDefinition, ServiceRuntime, service_app, service_worker

from services.opportunity import api

NAME = "opportunity"


def bootstrap(settings: Settings) -> tuple[ServiceRuntime, ServiceDefinition]:
    runtime = ServiceRuntime(NAME, settings)
    definition = ServiceDefinition(name=NAME, title="Opportunity service", blueprints=[api.blueprint()])
    return runtime, definition


def create_app(settings: Settings | None = None, *, with_workers: bool | None = None):
    return service_app(bootstrap, settings, with_workers=with_workers)


def create_worker(settings: Settings | None = None):
    return service_worker(bootstrap, settings)
