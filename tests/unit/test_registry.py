"""The exporter registry (``exporters/_registry.py``): names to exporters."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Optional

import pytest
import requests  # noqa: F401 - see below
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otel_telemetry import _log
from otel_telemetry.exporters import (
    BUILTIN_EXPORTERS,
    ExporterContext,
    FileSpanExporter,
    JsonConsoleSpanExporter,
    OtlpRoute,
    SentrySpanExporter,
    create_exporters,
    delivers_locally,
)
from otel_telemetry.exporters._otlp import OtlpHttpSpanExporter
from otel_telemetry.testing import CapturingExporter
from tests.unit import exception_span

THIS = "tests.unit.test_registry"

# ``requests`` is imported above, at collection: urllib3 probes IPv6 support with a
# ``socket.bind`` to ("::1", 0) when first imported, which the socket guard of unmarked
# tests would take for the otlp exporter's doing. Creating the exporter opens nothing.


def _broken_factory(context: ExporterContext) -> SpanExporter:
    raise RuntimeError("the backend's client library is missing")


def _absent_factory(context: ExporterContext) -> Optional[SpanExporter]:
    return None  # cannot work here, and says so by returning None


class _ThirdParty(SpanExporter):
    delivers_locally = "yes"  # not exactly True: treated as remote


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_log, "_warned", set())
    monkeypatch.setitem(BUILTIN_EXPORTERS, "broken", f"{THIS}:_broken_factory")  # type: ignore[index]
    monkeypatch.setitem(BUILTIN_EXPORTERS, "absent", f"{THIS}:_absent_factory")  # type: ignore[index]


@pytest.fixture
def context(tmp_path: Path) -> ExporterContext:
    return ExporterContext(app="acme", version="1.0", config_dir=tmp_path, environ={})


@pytest.mark.parametrize(
    ("names", "types", "warning"),
    [
        pytest.param(["file"], {"file": FileSpanExporter}, None, id="file"),
        pytest.param(["console"], {"console": JsonConsoleSpanExporter}, None, id="console"),
        pytest.param(["otlp"], {"otlp": OtlpHttpSpanExporter}, None, id="otlp"),
        pytest.param(["none"], {}, None, id="none"),
        pytest.param(
            ["console", "none", "file"],
            {"console": JsonConsoleSpanExporter, "file": FileSpanExporter},
            None,
            id="several, in order",
        ),
        pytest.param(["sentry"], {"sentry": FileSpanExporter}, "has no DSN", id="sentry, no DSN"),
        pytest.param(
            ["nosuch", "file"],
            {"file": FileSpanExporter},
            "Unknown telemetry exporter 'nosuch'",
            id="unknown",
        ),
        pytest.param(
            ["broken", "file"],
            {"file": FileSpanExporter},
            "Telemetry exporter 'broken' is not available: the backend's client library",
            id="factory raises",
        ),
        pytest.param(["absent"], {}, None, id="factory returns None"),
    ],
)
def test_create_exporters(
    context: ExporterContext,
    caplog: pytest.LogCaptureFixture,
    names: list[str],
    types: dict,
    warning: Optional[str],
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporters = create_exporters(names, context)

    assert list(exporters) == list(types)
    assert all(type(exporters[name]) is kind for name, kind in types.items())
    messages = [r.getMessage() for r in caplog.records]
    assert (messages == []) if warning is None else (len(messages) == 1 and warning in messages[0])


def test_a_dsn_gives_the_sentry_exporter(context: ExporterContext) -> None:
    from dataclasses import replace

    dsn = "https://0123456789abcdef0123456789abcdef@o0.ingest.sentry.io/7"
    exporters = create_exporters(["sentry"], replace(context, sentry_dsn=dsn))
    assert isinstance(exporters["sentry"], SentrySpanExporter)


@pytest.mark.parametrize(
    ("exporter", "local"),
    [
        pytest.param(FileSpanExporter(Path("unused")), True, id="file"),
        pytest.param(JsonConsoleSpanExporter(), True, id="console"),
        pytest.param(CapturingExporter([]), True, id="testing"),
        pytest.param(SentrySpanExporter("https://k@o0.ingest.sentry.io/1", release="a@1"), False),
        pytest.param(_ThirdParty(), False, id="third party, not exactly True"),
    ],
)
def test_delivers_locally(exporter: SpanExporter, local: bool) -> None:
    assert delivers_locally(exporter) is local


#: The host application's own OTLP settings: they are not the library's.
HOST_OTLP = {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}


@pytest.mark.parametrize(
    ("route", "host_environ", "warning"),
    [
        pytest.param(OtlpRoute(), {}, None, id="default"),
        pytest.param(OtlpRoute(protocol="http/protobuf"), {}, None, id="http/protobuf"),
        pytest.param(
            OtlpRoute(protocol="http/json"),
            {},
            "'http/json' is not supported",
            id="http/json: warned, http",
        ),
        pytest.param(OtlpRoute(), HOST_OTLP, None, id="the host's OTLP protocol is not read"),
    ],
)
def test_otlp_protocol(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    route: OtlpRoute,
    host_environ: dict[str, str],
    warning: Optional[str],
) -> None:
    for name, value in host_environ.items():
        monkeypatch.setenv(name, value)
    context = ExporterContext(app="acme", version="1", config_dir=tmp_path, otlp=route)
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        exporters = create_exporters(["otlp"], context)

    assert isinstance(exporters["otlp"], OtlpHttpSpanExporter)
    messages = [r.getMessage() for r in caplog.records]
    assert (messages == []) if warning is None else (warning in messages[0])


def test_the_console_writes_otlp_json_to_its_stream() -> None:
    out = io.StringIO()
    exporter = JsonConsoleSpanExporter(out)

    assert exporter.export([exception_span()]) is SpanExportResult.SUCCESS

    document = json.loads(out.getvalue())
    [span] = document["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert span["name"] == "exception"
    assert exporter.force_flush() is True


def test_the_console_fails_on_a_closed_stream() -> None:
    out = io.StringIO()
    out.close()
    assert JsonConsoleSpanExporter(out).export([exception_span()]) is SpanExportResult.FAILURE
