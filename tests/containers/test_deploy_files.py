"""The deployment files say what the running system expects: the RabbitMQ definitions
carry the fixed topology, each gunicorn config serves its service's WSGI factory with the
settings from the environment, and the image installs every package. No Docker needed.
"""
from __future__ import annotations

import json
import re
import runpy
import tomllib
from pathlib import Path

import pytest

from crmkit.start_up import freeze_start_up

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
CONSUMERS = ("customer", "opportunity", "tasks", "reporting", "contracts")
FACTORIES = {
    "gateway": "gateway.app:create_app()",
    **{name: f"services.{name}.app:create_app()" for name in CONSUMERS},
}


@pytest.fixture(scope="module")
def definitions() -> dict:
    return json.loads((DEPLOY / "rabbitmq" / "definitions.json").read_text())


def _by_name(items):
    return {item["name"]: item for item in items}


def test_definitions_declare_both_exchanges(definitions):
    exchanges = _by_name(definitions["exchanges"])
    assert exchanges["crm.events"]["type"] == "topic"
    assert exchanges["crm.dlx"]["type"] == "direct"
    assert all(exchanges[name]["durable"] for name in ("crm.events", "crm.dlx"))


def test_definitions_hold_the_topology_the_code_declares(definitions):
    # The services declare the same queues at start; RabbitMQ refuses a redeclaration
    # whose arguments differ, so the file must match the code exactly (`crm topology`).
    from crm.system import subscriptions
    from crmkit.bus.topology import definitions as topology

    declared = topology(subscriptions(), queue_type="quorum")
    for part in ("exchanges", "queues", "bindings"):
        assert definitions[part] == declared[part], f"{part} differ from `crm topology`"


def test_definitions_give_each_consumer_quorum_queues_and_a_parking_route(definitions):
    queues = _by_name(definitions["queues"])
    consumers = {name.split(".")[1] for name in queues if name.count(".") == 1}
    assert "reporting" in consumers and consumers <= set(CONSUMERS)
    for service in consumers:
        main, retry, parking = (queues[f"crm.{service}{suffix}"]
                                for suffix in ("", ".retry", ".parking"))
        # Quorum, as CRM_QUEUE_TYPE=quorum in docker-compose.yml and deploy/k8s.
        assert all(q["durable"] and q["arguments"]["x-queue-type"] == "quorum"
                   for q in (main, retry, parking))
        assert main["arguments"]["x-dead-letter-exchange"] == "crm.dlx"
        assert main["arguments"]["x-dead-letter-routing-key"] == f"crm.{service}.parking"
        assert retry["arguments"]["x-dead-letter-routing-key"] == f"crm.{service}"
        assert {"source": "crm.dlx", "destination": f"crm.{service}.parking",
                "destination_type": "queue", "routing_key": f"crm.{service}.parking",
                "vhost": "/", "arguments": {}} in definitions["bindings"]
    reporting_keys = [b["routing_key"] for b in definitions["bindings"]
                      if b["destination"] == "crm.reporting"]
    assert reporting_keys == ["#"]


def test_definitions_carry_the_application_user(definitions):
    # Importing definitions at boot stops RabbitMQ from creating its default user.
    users = {user["name"] for user in definitions["users"]}
    granted = {(p["user"], p["vhost"]) for p in definitions["permissions"]}
    assert users and {(user, "/") for user in users} <= granted
    assert {"name": "/"} in definitions["vhosts"]


def test_queue_policy_covers_main_and_retry_queues_only(definitions):
    (policy,) = [p for p in definitions["policies"] if p["name"] == "crm-queues"]
    pattern = re.compile(policy["pattern"])
    assert pattern.search("crm.customer") and pattern.search("crm.customer.retry")
    assert not pattern.search("crm.customer.parking")  # nothing to dead-letter it to
    assert policy["definition"]["dead-letter-strategy"] == "at-least-once"
    assert policy["definition"]["overflow"] == "reject-publish"  # at-least-once needs it


def _gunicorn_settings(service: str, monkeypatch, **env) -> dict:
    for name in ("CRM_HTTP_BIND", "CRM_HTTP_WORKERS", "CRM_HTTP_THREADS", "WEB_CONCURRENCY",
                 "CRM_PORT", "MONGO_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(DEPLOY / "gunicorn" / f"{service}.conf.py"))


@pytest.mark.parametrize("service", sorted(FACTORIES))
def test_gunicorn_config_serves_the_service_factory(service, monkeypatch):
    from gunicorn.config import Config

    config = _gunicorn_settings(service, monkeypatch, MONGO_URL="mongodb://db:27017",
                                CRM_HTTP_WORKERS="3", CRM_HTTP_THREADS="8",
                                CRM_HTTP_BIND="0.0.0.0:9000")
    known = Config().settings
    settings = {name: value for name, value in config.items() if name in known}
    assert settings["wsgi_app"] == FACTORIES[service]
    assert settings["bind"] == ["0.0.0.0:9000"]
    assert (settings["workers"], settings["threads"]) == (3, 8)
    assert settings["preload_app"] is False
    assert settings["post_worker_init"] is freeze_start_up
    assert settings["graceful_timeout"] > 0
    assert "{x-request-id}" in settings["access_log_format"]
    gunicorn_config = Config()
    for name, value in settings.items():
        gunicorn_config.set(name, value)  # gunicorn's own validators accept every value


def test_gunicorn_defaults_listen_on_the_service_ports(monkeypatch):
    assert _gunicorn_settings("customer", monkeypatch)["bind"] == ["0.0.0.0:8000"]
    assert _gunicorn_settings("gateway", monkeypatch)["bind"] == ["0.0.0.0:8080"]
    assert _gunicorn_settings("gateway", monkeypatch, CRM_PORT="9090")["bind"] == ["0.0.0.0:9090"]


def test_gunicorn_runs_as_many_workers_as_asked(monkeypatch):
    # every worker is stateless over the shared database: any number may run
    settings = _gunicorn_settings("reporting", monkeypatch, CRM_HTTP_WORKERS="4")
    assert settings["workers"] == 4


def test_image_installs_every_package_of_the_project():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = [pattern.rstrip("*") for pattern in
                pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", dockerfile, re.M)
    for package in packages:
        assert re.search(rf"^COPY {package} /src/{package}$", dockerfile, re.M), package
    user = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert user and not user[-1].startswith(("root", "0")), "the image must not run as root"


def _yaml():
    return pytest.importorskip("yaml", reason="PyYAML is not installed: compose and "
                               "Kubernetes files are not checked here")


def test_compose_runs_every_part_configured_by_env():
    yaml = _yaml()
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    for name in ("mongo", "rabbitmq", "gateway", "gateway-worker"):
        assert "healthcheck" in services[name] or name.endswith("-worker"), name
    for name in CONSUMERS:
        api, worker = services[f"{name}-api"], services[f"{name}-worker"]
        assert api["command"] == ["gunicorn", "--config", f"deploy/gunicorn/{name}.conf.py"]
        assert worker["command"] == ["crm", "worker", name]
        assert "healthcheck" in api
        assert api["environment"]["CRM_QUEUE_TYPE"] == "quorum"
        assert "container_name" not in api and "ports" not in api  # so that they scale
    gateway_env = services["gateway"]["environment"]
    for name in CONSUMERS:
        assert gateway_env[f"{name.upper()}_SERVICE_URL"] == f"http://{name}-api:8000"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), source
            elif source.startswith("${") and ":-./" in source:
                assert (REPO / source.split(":-")[1].rstrip("}")).exists(), source


def test_kubernetes_manifests_probe_every_api():
    yaml = _yaml()
    documents = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    deployments = {doc["metadata"]["name"]: doc for doc in documents
                   if doc["kind"] == "Deployment" and doc["metadata"]["name"] != "pod-defaults"}
    assert set(deployments) == {"gateway", "gateway-worker",
                                *(f"{n}-api" for n in CONSUMERS),
                                *(f"{n}-worker" for n in CONSUMERS)}
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        if name.endswith("-worker"):
            assert container["command"] == ["crm", "worker", name.removesuffix("-worker")]
            continue
        probes = {probe: container[probe]["httpGet"]["path"]
                  for probe in ("readinessProbe", "livenessProbe", "startupProbe")}
        # liveness must not depend on MongoDB or the broker: an outage is not a restart
        assert probes == {"readinessProbe": "/readyz", "livenessProbe": "/livez",
                          "startupProbe": "/healthz"}, name
    scaled = {doc["spec"]["scaleTargetRef"]["name"] for doc in documents
              if doc["kind"] == "HorizontalPodAutoscaler"}
    assert scaled and scaled <= set(deployments)


def test_kubernetes_scales_apis_on_cpu_and_workers_on_their_queue():
    yaml = _yaml()
    documents = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    by_cpu = {doc["spec"]["scaleTargetRef"]["name"] for doc in documents
              if doc["kind"] == "HorizontalPodAutoscaler"}
    assert by_cpu == {"gateway", *(f"{n}-api" for n in CONSUMERS)}
    by_queue = {doc["spec"]["scaleTargetRef"]["name"]: doc["spec"]["triggers"][0]["metadata"]
                for doc in documents if doc["kind"] == "ScaledObject"}
    assert set(by_queue) == {f"{n}-worker" for n in CONSUMERS}
    for worker, trigger in by_queue.items():
        assert trigger["queueName"] == f"crm.{worker.removesuffix('-worker')}"
