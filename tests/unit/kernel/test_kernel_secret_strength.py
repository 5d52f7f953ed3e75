"""Secrets from the environment must be real: long enough, and not a well-known
placeholder, so that the deploy/ examples cannot be deployed as they are."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
import yaml

from crmkit.config import Settings, secret_problem

ROOT = Path(__file__).resolve().parents[3]
DISTRIBUTED = {"AMQP_URL": "amqp://crm:pw@rabbitmq:5672//"}


def example_secret() -> dict:
    return yaml.safe_load((ROOT / "deploy/k8s/secret.example.yaml").read_text())["stringData"]


def test_the_example_kubernetes_secret_is_refused_as_it_is():
    values = example_secret()
    with pytest.raises(RuntimeError, match="CRM_JWT_SECRET"):
        Settings.from_env({**values})
    assert secret_problem(values["CRM_JWT_SECRET"]) is not None


@pytest.mark.parametrize("value", [
    "CHANGE-ME-to-a-random-string-of-at-least-32-characters",
    "changeme-changeme-changeme-changeme",
    "replace_me_with_a_long_random_secret_value",
    "your-secret-key-goes-here-0123456789abcdef",
    "this-is-an-example-jwt-secret-0123456789",
    "placeholder-placeholder-placeholder-1234",
    "x" * 48, "s" * 40, "ab" * 24, "0123456789" * 4,
    "short-but-random-Qz81",
])
def test_placeholders_short_and_repetitive_secrets_are_refused(value):
    assert secret_problem(value) is not None
    with pytest.raises(RuntimeError, match="CRM_JWT_SECRET"):
        Settings.from_env({**DISTRIBUTED, "CRM_JWT_SECRET": value})


def test_a_random_secret_is_taken():
    value = secrets.token_urlsafe(48)
    assert secret_problem(value) is None
    assert Settings.from_env({**DISTRIBUTED, "CRM_JWT_SECRET": value}).jwt_secret == value


def test_the_metrics_token_is_optional_but_must_be_real_when_set():
    jwt = secrets.token_urlsafe(48)
    assert Settings.from_env({**DISTRIBUTED, "CRM_JWT_SECRET": jwt}).metrics_token is None
    token = secrets.token_urlsafe(32)
    settings = Settings.from_env({**DISTRIBUTED, "CRM_JWT_SECRET": jwt,
                                  "CRM_METRICS_TOKEN": token})
    assert settings.metrics_token == token
    with pytest.raises(RuntimeError, match="CRM_METRICS_TOKEN"):
        Settings.from_env({**DISTRIBUTED, "CRM_JWT_SECRET": jwt,
                           "CRM_METRICS_TOKEN": "CHANGE-ME"})


def test_embedded_mode_without_a_secret_still_makes_its_own():
    assert len(Settings.from_env({}).jwt_secret) >= 32
