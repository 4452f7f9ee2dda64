"""Fixtures for the tests of the real collector.

Every module here sets ``pytestmark = [pytest.mark.collector, pytest.mark.integration]``;
tests/conftest.py leaves them out when no binary is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.collector.otelcol import Collector, env_example
from tests.receivers.otlp import OtlpHttpReceiver


@pytest.fixture
def backend() -> Iterator[OtlpHttpReceiver]:
    """The gateway's ``otlphttp/backend``: the project's OTLP test receiver."""
    with OtlpHttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def sentry_otlp() -> Iterator[OtlpHttpReceiver]:
    """The gateway's ``otlphttp/sentry`` (Sentry's OTLP traces endpoint stands in)."""
    with OtlpHttpReceiver() as receiver:
        yield receiver


def gateway_env(backend: OtlpHttpReceiver, sentry_otlp: OtlpHttpReceiver) -> dict[str, str]:
    """``.env.example`` with both exporters of the gateway pointed at loopback receivers."""
    return {
        **env_example(),
        "BACKEND_OTLP_ENDPOINT": backend.endpoint,
        "SENTRY_OTLP_TRACES_ENDPOINT": f"{sentry_otlp.endpoint}/v1/traces",
    }


@pytest.fixture
def gateway(
    tmp_path: Path, backend: OtlpHttpReceiver, sentry_otlp: OtlpHttpReceiver
) -> Iterator[Collector]:
    """``gateway.yaml`` as shipped, running, exporting to ``backend`` and ``sentry_otlp``."""
    collector = Collector("gateway.yaml", tmp_path, gateway_env(backend, sentry_otlp))
    with collector:
        yield collector
