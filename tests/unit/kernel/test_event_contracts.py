"""The event contracts live in one package, `events`: importing it registers every event
schema, nothing registers one elsewhere, and the AsyncAPI catalog lists each of them."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# A fresh interpreter: what the test process registered (bus tests' own events) or
# imported must not decide what `import events` alone registers.
SCRIPT = """
import importlib, json
import events
from crmkit.events import registry

def specs():
    return sorted([s.type, s.version, s.producer, s.schema.__module__, s.schema.__name__]
                  for s in registry.specs())

from_events = specs()
for module in ("services.customer.app", "services.opportunity.app", "services.tasks.app",
               "services.reporting.app", "services.contracts.app", "gateway.app"):
    importlib.import_module(module)
from gateway.docs import PublicDocs
catalog = PublicDocs({}, []).catalog()
print(json.dumps({"from_events": from_events, "with_every_service": specs(),
                  "messages": sorted(catalog["components"]["messages"]),
                  "channels": sorted(catalog["channels"])}))
"""


def registered() -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_every_event_schema_comes_from_the_events_package_and_is_in_the_catalog():
    found = registered()
    specs = found["from_events"]
    assert found["with_every_service"] == specs        # no service registers its own
    producers = {producer for _, _, producer, _, _ in specs}
    assert producers == {"customer", "opportunity", "tasks", "gateway", "contracts"}
    for event_type, version, _, module, name in specs:
        assert module.startswith("events."), (event_type, module)
        contracts = __import__(module, fromlist=[name])
        assert getattr(contracts, name).__name__ == name   # importable from there
    assert found["messages"] == sorted(
        f"{event_type.replace('.', '_')}_v{version}" for event_type, version, *_ in specs)
    assert found["channels"] == sorted({event_type for event_type, *_ in specs})


def test_no_event_schema_is_registered_outside_the_events_package():
    outside = [str(path.relative_to(ROOT))
               for package in ("crm", "crmkit", "gateway", "services")
               for path in (ROOT / package).rglob("*.py") if "@event_schema(" in path.read_text()]
    assert outside == []
