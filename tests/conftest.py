from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from otel_telemetry._mode import CI_VARIABLES
from tests.receivers.otlp import OtlpGrpcReceiver, OtlpHttpReceiver
from tests.receivers.spotlight import SpotlightSidecar

ROOT = Path(__file__).resolve().parent.parent

# Variables of the machine that would change what a host subprocess decides.
_SCRUBBED_ENV = ("DO_NOT_TRACK", "OTEL_SDK_DISABLED", "SENTRY_DSN")


# A host module (package "__main__") that captures one handled exception and flushes.
CAPTURE_ONE = """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
delivered = t.flush(30)
"""


@pytest.fixture
def otlp_http() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def otlp_grpc() -> Iterator[OtlpGrpcReceiver]:
    with OtlpGrpcReceiver() as receiver:
        yield receiver


@pytest.fixture
def spotlight() -> Iterator[SpotlightSidecar]:
    sidecar = SpotlightSidecar()
    yield sidecar
    sidecar.close()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    path = tmp_path / "acme-config"
    path.mkdir()
    return path


@pytest.fixture
def host_env(config_dir: Path, tmp_path: Path) -> dict[str, str]:
    """A clean environment for a host subprocess: its own HOME and config dir, no OTEL_*."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "ACME_")) and k not in _SCRUBBED_ENV
    }
    home = tmp_path / "home"
    home.mkdir()
    env.update(
        HOME=str(home),
        ACME_CONFIG_DIR=str(config_dir),
        PYTHONDONTWRITEBYTECODE="1",
        # First reports import the SDK on the worker; give slow CI machines room.
        ACME_TELEMETRY_FLUSH_TIMEOUT="15",
    )
    return env


@pytest.fixture
def tty_env(host_env: dict[str, str]) -> dict[str, str]:
    """A host environment as on a developer's terminal: no CI variable."""
    return {k: v for k, v in host_env.items() if k not in CI_VARIABLES}


def acme_command() -> str:
    return str(Path(sys.executable).with_name("acme"))


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run a command the way a host process runs: stdin closed, output captured."""
    return subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
    )


def run_python(
    code: str, env: dict[str, str], *args: str, check: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter."""
    result = run([sys.executable, "-c", code, *args], env)
    if check and result.returncode:
        raise AssertionError(f"exit {result.returncode}\n{result.stderr}")
    return result


def run_acme(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the example host's ``acme`` console script, as its users do."""
    return run([acme_command(), *args], env)
