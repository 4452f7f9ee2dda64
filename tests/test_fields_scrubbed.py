"""Everything that leaves is scrubbed: the resource, the Sentry release, environment, tags
and contexts, and usage-event properties of every type.

A real host process puts personal data (an email, a home path, a card number) in every
field of its own that reaches the wire: its ``version``, its deployment environment (as
the argument and as ``ACME_ENVIRONMENT``), a crash message, and a usage event whose
payload holds a value of each type (str, int, float, bool, None, lists, tuples, sets,
dicts, bytes, paths, objects). The report goes to Sentry (the Spotlight sidecar), to a
real OTLP receiver and to the local file at once; none of them, and nothing on disk,
may hold any of it, and the host's stderr stays empty (no OpenTelemetry warning).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan

from otel_telemetry import _attributes as attr
from otel_telemetry.exporters._sentry import sentry_event
from otel_telemetry.pipeline._report import resource_attributes
from tests.conftest import run_python
from tests.payloads import attributes
from tests.receivers.otlp import OtlpHttpReceiver
from tests.receivers.spotlight import SpotlightSidecar

EMAIL = "grace.hopper@corp.example"
HOME = "/home/grace/secret-project/notes.txt"
CARD = "4111111111111111"
#: What must arrive nowhere: every piece of the samples above.
SENSITIVE = (EMAIL, "grace.hopper", "corp.example", "/home/grace", "secret-project", CARD)

HOST = textwrap.dedent(
    """
    import pathlib, sys
    from otel_telemetry import Telemetry

    EMAIL, HOME, CARD = sys.argv[1], sys.argv[2], int(sys.argv[3])
    arguments = {"environment": HOME} if sys.argv[4] == "argument" else {}
    t = Telemetry(app="acme", package="__main__", version=f"2.0+{EMAIL}", **arguments)


    class Patient:  # an object of the host's user, with personal data in its str and repr
        def __str__(self):
            return f"patient {EMAIL} at {HOME}"

        __repr__ = __str__


    t.send_event(
        "export",
        {
            "s": f"owner {EMAIL}",
            "i": CARD,
            "neg": -CARD,
            "f": float(CARD),
            "b": True,
            "n": None,
            "l": [EMAIL, HOME],
            "ints": [CARD, 3],
            "t": (HOME, EMAIL),
            "count": 3,
        },
    )
    # Beyond the limits of a usage event: refused at the call, one warning each.
    for key, value in {
        "mixed": [EMAIL, CARD, True],
        "set": {EMAIL},
        "d": {"email": EMAIL, "nested": {"path": HOME, "card": CARD}},
        "by": EMAIL.encode(),
        "p": pathlib.PurePosixPath(HOME),
        "o": Patient(),
    }.items():
        t.send_event("export_refused", {key: value})
    try:
        raise ValueError(f"cannot open {HOME} for {EMAIL}")
    except ValueError as exc:
        t.capture_exception(exc)
    assert t.flush(30)
    """
)


def _leaks(text: str) -> list[str]:
    return [part for part in SENSITIVE if part in text]


def _resource(request: Any) -> dict[str, Any]:
    [resource_spans] = request.resource_spans
    return attributes(MessageToDict(resource_spans.resource)["attributes"])


@pytest.mark.integration
@pytest.mark.parametrize("environment_from", ["argument", "variable"])
def test_no_field_that_leaves_holds_personal_data(
    host_env: dict[str, str],
    config_dir: Path,
    otlp_http: OtlpHttpReceiver,
    spotlight: SpotlightSidecar,
    environment_from: str,
) -> None:
    host_env.update(
        ACME_TELEMETRY="all",  # the usage event too
        ACME_TELEMETRY_EXPORTER="sentry,otlp,file",
        ACME_SENTRY_DSN=spotlight.dsn(),
        ACME_OTLP_ENDPOINT=otlp_http.endpoint,
    )
    if environment_from == "variable":
        host_env["ACME_ENVIRONMENT"] = HOME

    result = run_python(HOST, host_env, EMAIL, HOME, CARD, environment_from, check=True)

    # Nothing on the user's stderr but the refused events' warnings, which hold no value:
    # no warning of the SDK about a value's type.
    warnings = result.stderr.splitlines()
    assert len(warnings) == 6
    assert all(
        w.startswith("otel_telemetry: acme's usage event 'export_refused'") for w in warnings
    )
    assert _leaks(result.stderr) == []

    # OTLP: the crash and the event, every string, number and the resource.
    spans = otlp_http.wait_for_spans(2)
    for received in otlp_http.requests:
        decoded = json.dumps(MessageToDict(received.request))
        assert _leaks(decoded) == [], decoded
        assert _leaks(received.body.decode("utf-8", "replace")) == []
        resource = _resource(received.request)
        assert resource["service.name"] == "acme"
        assert "[email]" in resource["service.version"]  # there, scrubbed
        assert resource["deployment.environment.name"]  # there, scrubbed
    [event] = [s for s in spans if s["name"] == "export"]
    assert not [s for s in spans if s["name"] == "export_refused"]
    sent = attributes(event["attributes"])
    assert {"s", "i", "neg", "f", "b", "l", "ints", "t"} <= set(sent)
    assert "n" not in sent  # None: left out
    assert sent["b"] is True
    assert sent["count"] == "3"  # a small number kept (int64 in protobuf's JSON is text)

    # Sentry: release, environment, tags, contexts, the exception: the whole event.
    [error] = spotlight.errors(1)
    assert _leaks(json.dumps(error)) == [], error
    assert error["release"].startswith("acme@")
    assert "[email]" in error["release"]
    assert error["environment"] not in ("", "production")
    assert error["tags"]["mode"]
    assert set(error["contexts"]) == {"trace"}

    # The file exporter's reports, the outbox, what was recorded as sent: all of it.
    written = [p for p in (config_dir / "telemetry").rglob("*") if p.is_file()]
    assert any(p.parent.name == "reports" for p in written)
    for path in written:
        assert _leaks(path.read_text("utf-8", "replace")) == [], path


# -- in process: where the Sentry event's release and environment come from ---------------


def _crash_span(resource: dict[str, str]) -> ReadableSpan:
    return ReadableSpan(
        name=attr.SPAN_EXCEPTION,
        resource=Resource(resource),
        attributes={attr.KIND: attr.KIND_EXCEPTION, attr.MODE: "server"},
        events=[Event(attr.EVENT_EXCEPTION, {attr.EXCEPTION_TYPE: "ValueError"}, timestamp=1)],
    )


@pytest.mark.parametrize(
    ("resource", "release", "environment"),
    [
        pytest.param(
            {"service.name": "acme", "service.version": "1.2.3"},
            "acme@1.2.3",
            "production",
            id="no environment: production",
        ),
        pytest.param(
            {
                "service.name": "acme",
                "service.version": "1.0+[email]/x\ny",
                "deployment.environment.name": "eu west/[path]",
            },
            "acme@1.0+[email]-x-y",
            "eu-west-[path]",
            id="what Sentry refuses becomes '-'",
        ),
    ],
)
def test_the_sentry_event_reads_the_reports_resource(
    resource: dict[str, str], release: str, environment: str
) -> None:
    event = sentry_event(_crash_span(resource))

    assert event is not None
    assert (event["release"], event["environment"]) == (release, environment)
    assert event["tags"]["mode"] == "server"


def test_the_resource_holds_strings_only_and_an_environment_only_when_set() -> None:
    module = type(textwrap)("crawlx.__version__")

    resource = resource_attributes("acme", module)  # type: ignore[arg-type]

    assert resource["service.version"] == "unknown"
    assert "deployment.environment.name" not in resource
    assert all(isinstance(value, str) for value in resource.values())
    assert resource_attributes("acme", "1", "staging")["deployment.environment.name"] == "staging"
