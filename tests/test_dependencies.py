"""What `pip install otel-telemetry` brings, and the otlp exporter without the grpc extra.

The core install has OTLP over HTTP only; gRPC (grpcio and its protobuf stubs) is the
``grpc`` extra. Asked for ``grpc`` without it, the otlp exporter warns once, naming the
extra, and sends over HTTP.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from otel_telemetry import _log
from otel_telemetry.exporters import ExporterContext, OtlpRoute
from otel_telemetry.exporters._otlp import (
    OtlpGrpcSpanExporter,
    OtlpHttpSpanExporter,
    create_otlp_exporter,
)

ROOT = Path(__file__).resolve().parent.parent
EXTRA_HINT = "pip install 'otel-telemetry[grpc]'"


def _context(tmp_path: Path, protocol: str = "http/protobuf") -> ExporterContext:
    return ExporterContext(
        app="acme", version="1.0", config_dir=tmp_path, otlp=OtlpRoute(protocol=protocol)
    )


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the warnings given so far, so that this test sees its own."""
    monkeypatch.setattr(_log, "_warned", set())


@pytest.mark.usefixtures("fresh_warnings")
def test_grpc_without_the_extra_warns_once_and_sends_over_http(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    monkeypatch.setitem(sys.modules, "grpc", None)  # as without grpcio
    context = _context(tmp_path, "grpc")

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporters = [create_otlp_exporter(context) for _ in range(3)]

    assert all(isinstance(exporter, OtlpHttpSpanExporter) for exporter in exporters)
    warnings = [r.getMessage() for r in caplog.records if r.name.startswith("otel_telemetry")]
    assert len(warnings) == 1, warnings
    assert EXTRA_HINT in warnings[0]
    assert "http/protobuf" in warnings[0]
    for exporter in exporters:
        exporter.shutdown()


@pytest.mark.usefixtures("fresh_warnings")
def test_grpc_with_the_extra_uses_the_grpc_exporter(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    context = _context(tmp_path, "grpc")

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporter = create_otlp_exporter(context)

    assert isinstance(exporter, OtlpGrpcSpanExporter)
    assert not caplog.records
    exporter.shutdown()


@pytest.mark.usefixtures("fresh_warnings")
@pytest.mark.parametrize(("protocol", "warned"), [(None, False), ("http/json", True)])
def test_other_protocols_send_over_http(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, protocol: str | None, warned: bool
) -> None:
    context = _context(tmp_path) if protocol is None else _context(tmp_path, protocol)

    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporter = create_otlp_exporter(context)

    assert isinstance(exporter, OtlpHttpSpanExporter)
    assert len(caplog.records) == int(warned)
    exporter.shutdown()


# What a fresh venv runs after `pip install <wheel>`: the core imports, OTLP/JSON encoding
# (protobuf and the OTLP common encoder), and the otlp exporter asked for gRPC.
IN_FRESH_VENV = """
import importlib.util, json, sys
from opentelemetry.sdk.trace import TracerProvider
from otel_telemetry.exporters._otlp import OtlpHttpSpanExporter, create_otlp_exporter
from otel_telemetry.exporters._otlp_json import encode_otlp_json
from otel_telemetry.exporters import ExporterContext, OtlpRoute

tracer = TracerProvider().get_tracer("check")
with tracer.start_as_current_span("exception") as span:
    pass
document = encode_otlp_json([span])
context = ExporterContext(
    app="acme", version="1", config_dir=".", otlp=OtlpRoute(protocol="grpc")
)
exporter = create_otlp_exporter(context)
print(json.dumps({
    "grpc_importable": importlib.util.find_spec("grpc") is not None,
    "span_names": [s["name"] for rs in document["resourceSpans"]
                   for ss in rs["scopeSpans"] for s in ss["spans"]],
    "http_fallback": isinstance(exporter, OtlpHttpSpanExporter),
}))
"""


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_the_core_install_has_no_grpc(tmp_path: Path) -> None:
    """Build the wheel, install it in a fresh venv (from PyPI only): no grpcio there."""
    wheels = tmp_path / "wheels"
    _pip(sys.executable, "wheel", "--no-deps", "--wheel-dir", str(wheels), str(ROOT))
    (wheel,) = wheels.glob("otel_telemetry-*.whl")

    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    _pip(python, "install", str(wheel))

    installed = {
        package["name"].lower().replace("_", "-")
        for package in json.loads(_pip(python, "list", "--format=json"))
    }
    assert "otel-telemetry" in installed
    assert not {name for name in installed if name.startswith("grpc")}, sorted(installed)
    assert "opentelemetry-exporter-otlp-proto-grpc" not in installed
    for needed in (
        "opentelemetry-api",
        "opentelemetry-sdk",
        "opentelemetry-exporter-otlp-proto-common",
        "protobuf",
        "click",
        "filelock",
    ):
        assert needed in installed, sorted(installed)
    # Our own transport sends OTLP/HTTP and Sentry envelopes: none of these comes along.
    for unneeded in ("sentry-sdk", "requests", "urllib3", "opentelemetry-exporter-otlp-proto-http"):
        assert unneeded not in installed, sorted(installed)

    imports_grpc = subprocess.run(
        [python, "-c", "import grpc"], capture_output=True, text=True, timeout=60
    )
    assert imports_grpc.returncode != 0
    assert "No module named 'grpc'" in imports_grpc.stderr

    # Out of the source tree, so that only the installed wheel can be imported.
    result = subprocess.run(
        [python, "-c", IN_FRESH_VENV],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "grpc_importable": False,
        "span_names": ["exception"],
        "http_fallback": True,
    }
    assert result.stderr.count(EXTRA_HINT) == 1, result.stderr


def _pip(python: str, *args: str) -> str:
    result = subprocess.run(
        [python, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
