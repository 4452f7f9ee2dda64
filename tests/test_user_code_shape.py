"""The user's own code keeps only its shape: no message it raised, no class it defined.

A host library calls the user's code (callbacks, hooks, classes). What that code raises
passes through the host and is reported, but its message may hold anything of the
user's (a client's name, a project's code name) and its class name too: the message
becomes ``[user message]`` and the class ``<user exception>``, in every link of the
chain and every exporter. What the host, a library or the standard library raised keeps
its (scrubbed) message and its type's name.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from otel_telemetry import _attributes as attr
from otel_telemetry.capture._snapshot import (
    USER_CODE,
    CapturedException,
    RawException,
    capture_exception,
)
from otel_telemetry.exporters._file import read_reports
from otel_telemetry.exporters._sentry import sentry_event
from otel_telemetry.pipeline._provider import SpanRecorder
from otel_telemetry.pipeline._spans import (
    USER_EXCEPTION,
    USER_MESSAGE,
    exception_attributes,
    exception_type_name,
    record_span,
)
from tests.conftest import run
from tests.payloads import attributes

PACKAGES = ("tests",)  # this module is the host here
CODENAME = "internal-project-codename-ORION for client BigBank"
PERSONAL = ("ORION", "BigBank", "PatientRecordMissing", "alice_clinic", "patient 4411")

USER_MODULE = """
class PatientRecordMissing(KeyError):
    pass

def on_page(url):
    raise RuntimeError("internal-project-codename-ORION for client BigBank")

def on_record(record):
    raise PatientRecordMissing("patient 4411 of Dr. Alice")

def parse_amount(text):
    return int(text)  # raises in C: the raising frame is this one

def parse_json(text):
    import json
    return json.loads(text)  # raises in the standard library
"""


@pytest.fixture
def user() -> dict[str, Any]:
    """The user's own module: a file outside every library, not the host's package."""
    namespace: dict[str, Any] = {"__name__": "alice_clinic.callbacks"}
    exec(compile(USER_MODULE, "/srv/alice_clinic/callbacks.py", "exec"), namespace)
    return namespace


class HostError(RuntimeError):
    pass


def each(items: list[str], callback: Callable[[str], Any]) -> None:
    """The host's function that calls the user's code."""
    for item in items:
        callback(item)


def each_wrapped(items: list[str], callback: Callable[[str], Any]) -> None:
    for item in items:
        try:
            callback(item)
        except Exception as exc:
            raise HostError("a callback failed") from exc


def each_quoting(items: list[str], callback: Callable[[str], Any]) -> None:
    for item in items:
        try:
            callback(item)
        except Exception as exc:
            raise HostError(f"callback failed: {exc}") from exc


def each_handling(items: list[str], callback: Callable[[str], Any]) -> None:
    for item in items:
        try:
            callback(item)
        except Exception:
            raise HostError("could not recover from a callback")  # noqa: B904 - the context


def _report(call: Callable[[], Any]) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """``(exception event, chain, status)`` of what ``call`` raises."""
    try:
        call()
    except Exception as exc:
        captured = capture_exception(exc, "capture_errors", handled=True, packages=PACKAGES)
    else:
        raise AssertionError("did not raise")
    _, event, status = exception_attributes(captured, PACKAGES)
    return event, json.loads(str(event[attr.EXCEPTION_CHAIN])), status


def _no_personal(*texts: Any) -> None:
    for text in texts:
        for secret in PERSONAL:
            assert secret not in json.dumps(text), secret


def test_a_message_raised_by_user_code_is_replaced(user: dict[str, Any]) -> None:
    event, chain, status = _report(lambda: each(["a"], user["on_page"]))

    assert event[attr.EXCEPTION_TYPE] == "RuntimeError"
    assert event[attr.EXCEPTION_MESSAGE] == USER_MESSAGE
    assert status == f"RuntimeError: {USER_MESSAGE}"
    assert str(event[attr.EXCEPTION_STACKTRACE]).endswith(f"\nRuntimeError: {USER_MESSAGE}")
    [entry] = chain
    assert (entry["type"], entry["message"]) == ("RuntimeError", USER_MESSAGE)
    assert "base" not in entry
    _no_personal(event, status)


def test_a_class_of_user_code_is_a_user_exception(user: dict[str, Any]) -> None:
    event, chain, status = _report(lambda: each(["a"], user["on_record"]))

    assert event[attr.EXCEPTION_TYPE] == USER_EXCEPTION
    assert status == f"{USER_EXCEPTION}: {USER_MESSAGE}"
    [entry] = chain
    assert (entry["type"], entry["module"], entry["base"]) == (
        USER_EXCEPTION,
        USER_CODE,
        "KeyError",
    )
    assert entry["message"] == USER_MESSAGE
    _no_personal(event, status)


def test_a_class_of_user_code_raised_by_the_host_keeps_its_message(user: dict[str, Any]) -> None:
    def host_raises() -> None:
        raise user["PatientRecordMissing"]("the record store is read-only")

    event, [entry], _ = _report(host_raises)

    assert event[attr.EXCEPTION_TYPE] == USER_EXCEPTION
    assert entry["message"] == event[attr.EXCEPTION_MESSAGE] == "'the record store is read-only'"


def test_what_the_host_or_a_library_raised_keeps_its_message(user: dict[str, Any]) -> None:
    def host_fails() -> None:
        raise HostError("the cache is full")

    event, _, status = _report(host_fails)
    assert event[attr.EXCEPTION_TYPE] == f"{__name__}.HostError"
    assert status == f"{__name__}.HostError: the cache is full"

    # The host called the standard library, which raised: its message stays.
    event, [entry], _ = _report(lambda: json.loads("not json"))
    assert event[attr.EXCEPTION_TYPE] == "json.decoder.JSONDecodeError"
    assert entry["message"] == "Expecting value: line 1 column 1 (char 0)"

    # The user's code called it: the library raised on the user's data, the user's.
    event, [entry], _ = _report(lambda: user["parse_json"]("not json"))
    assert event[attr.EXCEPTION_TYPE] == "json.decoder.JSONDecodeError"
    assert entry["message"] == event[attr.EXCEPTION_MESSAGE] == USER_MESSAGE

    # A built-in called from the user's code raises in the user's frame: the user's.
    event, _, _ = _report(lambda: user["parse_amount"]("customer-4411"))
    assert event[attr.EXCEPTION_TYPE] == "ValueError"
    assert event[attr.EXCEPTION_MESSAGE] == USER_MESSAGE


@pytest.mark.parametrize(
    ("host", "relation"), [(each_wrapped, "cause"), (each_handling, "context")]
)
def test_each_link_of_a_chain_is_judged_on_its_own(
    user: dict[str, Any], host: Callable[..., Any], relation: str
) -> None:
    event, chain, status = _report(lambda: host(["a"], user["on_record"]))

    root, raised = chain
    assert (root["type"], root["message"], root["relation"]) == (
        USER_EXCEPTION,
        USER_MESSAGE,
        relation,
    )
    assert raised["type"] == f"{__name__}.HostError"
    assert raised["message"] == event[attr.EXCEPTION_MESSAGE] != USER_MESSAGE
    assert status == f"{__name__}.HostError: {raised['message']}"
    stack = str(event[attr.EXCEPTION_STACKTRACE])
    assert f"{USER_EXCEPTION}: {USER_MESSAGE}\n" in stack
    _no_personal(event, status)


def test_a_host_message_that_quotes_a_user_message_loses_the_quote(user: dict[str, Any]) -> None:
    event, chain, status = _report(lambda: each_quoting(["a"], user["on_page"]))

    root, raised = chain
    assert root["message"] == USER_MESSAGE
    assert raised["message"] == f"callback failed: {USER_MESSAGE}"
    assert event[attr.EXCEPTION_MESSAGE] == raised["message"]
    assert status == f"{__name__}.HostError: callback failed: {USER_MESSAGE}"
    assert str(event[attr.EXCEPTION_STACKTRACE]).endswith(f"HostError: {raised['message']}")
    _no_personal(event, status)


@pytest.mark.parametrize(("message", "kept"), [("no frames", "no frames"), ("", "")])
def test_without_frames_or_message_nothing_is_replaced(message: str, kept: str) -> None:
    captured = CapturedException(
        exceptions=(RawException(USER_CODE, "KeyError", message, ()),),
        mechanism="capture_exception",
        handled=True,
    )
    _, event, _ = exception_attributes(captured, PACKAGES)
    assert event[attr.EXCEPTION_MESSAGE] == kept
    assert exception_type_name(captured.exceptions[0]) == USER_EXCEPTION


def test_the_sentry_event_carries_the_same_shape(user: dict[str, Any]) -> None:
    try:
        each_wrapped(["a"], user["on_record"])
    except HostError as exc:
        captured = capture_exception(exc, "capture_errors", handled=True, packages=PACKAGES)
    exporter = InMemorySpanExporter()
    recorder = SpanRecorder(
        SimpleSpanProcessor(exporter), Resource({"service.name": "acme"}), InstrumentationScope("t")
    )
    record_span(recorder, captured, packages=PACKAGES, mode="script", install_id=None)
    [span] = exporter.get_finished_spans()

    event = sentry_event(span, release="acme@1", environment="test")

    assert event is not None
    root, raised = event["exception"]["values"]
    assert (root["type"], root["value"]) == (USER_EXCEPTION, USER_MESSAGE)
    assert (raised["type"], raised["value"]) == ("HostError", "a callback failed")
    _no_personal(event)


# In a real host process: the example host's crawl_each calls the user's callback.
USER_SCRIPT = """
import sys
import acme.crawler

def on_page(url):
    {body}

acme.crawler.crawl_each(["https://example.com/1"], on_page)
"""


def _user_script(home: Path, body: str) -> Path:
    folder = home / "alice_clinic"
    folder.mkdir(exist_ok=True)
    (folder / "alice_clinic_patients.py").write_text(
        "class PatientRecordMissing(KeyError):\n    pass\n"
    )
    script = folder / "app.py"
    script.write_text(USER_SCRIPT.format(body=body))
    return script


def _exception_events(config_dir: Path) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """``(exception event attributes, status)`` of every report the file exporter wrote."""
    found = []
    for document in read_reports(config_dir / "telemetry" / "reports"):
        for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:  # type: ignore[index]
            for event in span.get("events", []):
                if event["name"] == attr.EVENT_EXCEPTION:
                    found.append((attributes(event["attributes"]), span["status"]))
    return found


def _crash(host_env: dict[str, str], spotlight: Any, body: str) -> tuple[str, dict[str, Any]]:
    """Run the user's script; what it printed and the Sentry event."""
    host_env.update(
        ACME_TELEMETRY="1",
        ACME_TELEMETRY_EXPORTER="file,sentry",
        ACME_SENTRY_DSN=spotlight.dsn(),
    )
    script = _user_script(Path(host_env["HOME"]), body)
    result = run([sys.executable, str(script)], host_env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" in result.stderr  # the user's own terminal still shows it all
    [event] = spotlight.errors(1, timeout=60)
    return result.stderr, event


@pytest.mark.integration
def test_a_user_callback_message_never_leaves(host_env, config_dir, spotlight) -> None:
    stderr, sentry = _crash(host_env, spotlight, f"raise RuntimeError({CODENAME!r})")

    assert CODENAME in stderr
    [(event, status)] = _exception_events(config_dir)
    assert event[attr.EXCEPTION_TYPE] == "RuntimeError"
    assert event[attr.EXCEPTION_MESSAGE] == USER_MESSAGE
    assert status["message"] == f"RuntimeError: {USER_MESSAGE}"
    [entry] = json.loads(event[attr.EXCEPTION_CHAIN])
    assert entry["message"] == USER_MESSAGE
    assert entry["frames"][-1]["module"] == USER_CODE  # raised there
    assert any(frame["module"] == "acme.crawler" for frame in entry["frames"])
    raised = sentry["exception"]["values"][-1]
    assert (raised["type"], raised["value"]) == ("RuntimeError", USER_MESSAGE)
    raw = "".join(p.read_text() for p in (config_dir / "telemetry" / "reports").iterdir())
    _no_personal(raw, sentry)


@pytest.mark.integration
def test_a_user_exception_class_is_never_named(host_env, config_dir, spotlight) -> None:
    host_env["PYTHONPATH"] = str(Path(host_env["HOME"]) / "alice_clinic")
    body = textwrap.dedent(
        """\
        import alice_clinic_patients
            raise alice_clinic_patients.PatientRecordMissing("patient 4411 of Dr. Alice")"""
    )
    stderr, sentry = _crash(host_env, spotlight, body)

    assert "PatientRecordMissing" in stderr
    [(event, status)] = _exception_events(config_dir)
    assert event[attr.EXCEPTION_TYPE] == USER_EXCEPTION
    assert event[attr.EXCEPTION_MESSAGE] == USER_MESSAGE
    assert status["message"] == f"{USER_EXCEPTION}: {USER_MESSAGE}"
    [entry] = json.loads(event[attr.EXCEPTION_CHAIN])
    assert (entry["type"], entry["base"]) == (USER_EXCEPTION, "KeyError")
    raised = sentry["exception"]["values"][-1]
    assert (raised["type"], raised["value"]) == (USER_EXCEPTION, USER_MESSAGE)
    raw = "".join(p.read_text() for p in (config_dir / "telemetry" / "reports").iterdir())
    _no_personal(raw, sentry)


HOST_PACKAGE = """
from otel_telemetry import Telemetry

telemetry = Telemetry(app="acme", package="clinichost", version="1.0")
telemetry.install()


class StoreError(RuntimeError):
    pass


@telemetry.capture_errors
def load(line):
    raise StoreError(f"cannot load record {line!r} from the store")


@telemetry.capture_errors
def each_quoting(items, callback):
    for item in items:
        try:
            callback(item)
        except Exception as exc:
            raise StoreError(f"callback failed: {exc}") from exc


@telemetry.capture_errors
def each_wrapped(items, callback):
    for item in items:
        try:
            callback(item)
        except Exception as exc:
            raise StoreError("a callback failed on a record") from exc
"""

HOST_USER_SCRIPT = """
import clinichost

class PatientRecordMissing(KeyError):
    pass

def on_record(record):
    raise PatientRecordMissing("patient 4411 of Dr. Alice")

for call in (
    lambda: clinichost.load("patient 4411 of Dr. Alice"),
    lambda: clinichost.each_wrapped(["r1"], on_record),
):
    try:
        call()
    except Exception:
        pass
assert clinichost.telemetry.flush(30)
"""


def _run_clinic(host_env, tmp_path, package_code, user_script):
    """Run the user's ``alice_clinic.py`` (in their home: user code) on the host package
    ``clinichost`` (``package_code``), consented."""
    package = tmp_path / "site" / "clinichost"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(package_code)
    script = Path(host_env["HOME"]) / "alice_clinic.py"
    script.write_text(user_script)
    host_env.update(ACME_TELEMETRY="1", PYTHONPATH=str(package.parent))
    return run([sys.executable, str(script)], host_env)


@pytest.mark.integration
def test_the_hosts_own_exceptions_keep_their_scrubbed_message(host_env, config_dir, tmp_path):
    result = _run_clinic(host_env, tmp_path, HOST_PACKAGE, HOST_USER_SCRIPT)

    assert result.returncode == 0, result.stderr
    # One link (the host's load), then two (the user's exception and the host's).
    events = sorted(_exception_events(config_dir), key=lambda e: len(e[0][attr.EXCEPTION_CHAIN]))
    (load, load_status), (wrapped, wrapped_status) = events
    # The host raised it from its own code: its message stays, its data value does not.
    assert load[attr.EXCEPTION_TYPE] == "clinichost.StoreError"
    assert load[attr.EXCEPTION_MESSAGE] == "cannot load record '[value]' from the store"
    assert load_status["message"] == f"clinichost.StoreError: {load[attr.EXCEPTION_MESSAGE]}"
    # The user's exception is the cause of the host's: each link judged on its own.
    root, raised = json.loads(wrapped[attr.EXCEPTION_CHAIN])
    assert (root["type"], root["message"], root["relation"]) == (
        USER_EXCEPTION,
        USER_MESSAGE,
        "cause",
    )
    assert (raised["type"], raised["message"]) == (
        "clinichost.StoreError",
        "a callback failed on a record",
    )
    assert wrapped[attr.EXCEPTION_MESSAGE] == "a callback failed on a record"
    assert wrapped_status["message"] == "clinichost.StoreError: a callback failed on a record"
    stack = wrapped[attr.EXCEPTION_STACKTRACE]
    assert f"{USER_EXCEPTION}: {USER_MESSAGE}\n" in stack
    assert stack.endswith("clinichost.StoreError: a callback failed on a record")
    raw = "".join(p.read_text() for p in (config_dir / "telemetry" / "reports").iterdir())
    _no_personal(raw)


QUOTING_USER_SCRIPT = """
import datetime
import clinichost

def on_record(record):
    raise RuntimeError("internal-project-codename-ORION for client BigBank")

def on_date(text):
    return datetime.datetime.strptime(text, "%Y-%m-%d")

for call in (
    lambda: clinichost.each_quoting(["r1"], on_record),
    lambda: clinichost.each(["2024-01-02 ORION BigBank patient 4411"], on_date),
):
    try:
        call()
    except Exception:
        pass
assert clinichost.telemetry.flush(30)
"""


@pytest.mark.integration
def test_a_quoted_user_message_and_a_library_call_on_user_data_never_leave(
    host_env, config_dir, tmp_path
):
    each = "\n\n@telemetry.capture_errors\ndef each(items, callback):\n    for item in items:\n        callback(item)\n"
    result = _run_clinic(host_env, tmp_path, HOST_PACKAGE + each, QUOTING_USER_SCRIPT)

    assert result.returncode == 0, result.stderr
    events = sorted(_exception_events(config_dir), key=lambda e: len(e[0][attr.EXCEPTION_CHAIN]))
    (strptime, _), (quoting, quoting_status) = events
    # The user's callback called the standard library on the user's text.
    assert strptime[attr.EXCEPTION_TYPE] == "ValueError"
    assert strptime[attr.EXCEPTION_MESSAGE] == USER_MESSAGE
    # The host quoted the user's message in its own.
    root, raised = json.loads(quoting[attr.EXCEPTION_CHAIN])
    assert root["message"] == USER_MESSAGE
    assert (
        raised["message"] == quoting[attr.EXCEPTION_MESSAGE] == f"callback failed: {USER_MESSAGE}"
    )
    assert quoting_status["message"] == f"clinichost.StoreError: callback failed: {USER_MESSAGE}"
    raw = "".join(p.read_text() for p in (config_dir / "telemetry" / "reports").iterdir())
    _no_personal(raw)
    assert "2024-01-02 ORION" not in raw
