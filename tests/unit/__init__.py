"""In-process, table-driven unit tests: real files in ``tmp_path``, real OTel SDK objects.

Nothing here starts a process or opens a socket, except tests marked ``integration``.
The helpers below build real, ended SDK spans for the tests of the worker side.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from otel_telemetry import _attributes as attr

HOST_RESOURCE = Resource({"service.name": "host-service", "host.name": "alice-laptop"})
"""A provider resource with what a host's detectors would add: never forwarded."""

_exporter = InMemorySpanExporter()
_provider = TracerProvider(resource=HOST_RESOURCE, shutdown_on_exit=False)
_provider.add_span_processor(SimpleSpanProcessor(_exporter))
_tracer = _provider.get_tracer("unit-tests", "9.9")


def finished_span(
    name: str = attr.SPAN_EXCEPTION,
    attributes: Optional[Mapping[str, Any]] = None,
    events: Sequence[tuple[str, Mapping[str, Any]]] = (),
    status: Optional[Status] = None,
    kind: SpanKind = SpanKind.INTERNAL,
    time_ns: int = 1_700_000_000_000_000_000,
) -> ReadableSpan:
    """One ended span of a real SDK provider, as exporters receive it."""
    span = _tracer.start_span(
        name, attributes=dict(attributes or {}), kind=kind, start_time=time_ns
    )
    for offset, (event_name, event_attributes) in enumerate(events):
        span.add_event(event_name, dict(event_attributes), timestamp=time_ns + offset)
    if status is not None:
        span.set_status(status)
    span.end(end_time=time_ns + 1_000)
    finished = _exporter.get_finished_spans()[-1]
    _exporter.clear()
    return finished


def exception_span(
    attributes: Optional[Mapping[str, Any]] = None, message: str = "boom"
) -> ReadableSpan:
    """A crash report's span, shaped as ``pipeline/_spans.py`` shapes it."""
    return finished_span(
        attributes={
            attr.KIND: attr.KIND_EXCEPTION,
            attr.MECHANISM: "excepthook",
            attr.HANDLED: False,
            **(attributes or {}),
        },
        events=[
            (
                attr.EVENT_EXCEPTION,
                {attr.EXCEPTION_TYPE: "ValueError", attr.EXCEPTION_MESSAGE: message},
            )
        ],
        status=Status(StatusCode.ERROR, f"ValueError: {message}"),
    )


def record_of(name: str = attr.SPAN_EXCEPTION) -> dict[str, Any]:
    """The outbox record of :func:`finished_span`."""
    from otel_telemetry.pipeline._records import span_to_record

    return span_to_record(finished_span(name))


def mode_of(path: Path) -> int:
    """The permission bits of a file or folder."""
    return stat.S_IMODE(os.stat(path).st_mode)


def dead_pid() -> int:
    """A pid that no process has: above the largest ``pid_max`` Linux allows (2**22)."""
    pid = 2**22 + 1
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except OSError:
            pass
        pid += 1


def under_a_file(tmp_path: Path, *parts: str) -> Path:
    """A path below a regular file: creating it fails, even as root."""
    blocker = tmp_path / "a-regular-file"
    blocker.write_text("not a folder")
    return blocker.joinpath(*parts)
