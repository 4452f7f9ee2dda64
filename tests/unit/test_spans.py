"""Spans (``pipeline/_spans.py``): a capture becomes one OTel span, on the worker."""

from __future__ import annotations

import json
import os
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import StatusCode

from otel_telemetry import _attributes as attr
from otel_telemetry._chain import ChainEntry
from otel_telemetry.capture._decorator import ErrorCapture
from otel_telemetry.capture._reporter import Reporter
from otel_telemetry.capture._snapshot import (
    MAX_FRAMES,
    CapturedEvent,
    CapturedException,
    RawException,
    capture_exception,
)
from otel_telemetry.pipeline._memo import Memo
from otel_telemetry.pipeline._provider import SpanRecorder
from otel_telemetry.pipeline._spans import (
    USER_CODE,
    event_attributes,
    exception_attributes,
    exception_type_name,
    record_span,
    relative_filename,
    report_parts,
)

HERE = "tests/unit/test_spans.py"
PLACEHOLDER = {
    "filename": USER_CODE,
    "function": USER_CODE,
    "lineno": 0,
    "module": USER_CODE,
    "in_app": False,
}


class CrawlError(Exception):
    pass


# Our own wrapper (capture_errors) around a function of the host; reporting is off.
_capture = ErrorCapture(
    Reporter(
        app="unit",
        packages=("tests",),
        ignore=(),
        storm_limits=(5, 60.0),
        denied=lambda: True,
        granted=lambda: False,
        should_report=None,
        submit=lambda captured: None,
        noted=lambda mechanism, seq: None,
        watch_asyncio=lambda: None,
    )
)


def _parse(text: str) -> Any:
    return json.loads(text)  # raises in the standard library


@_capture
def _crawl(text: str) -> Any:
    try:
        return _parse(text)
    except ValueError as exc:
        raise CrawlError("cannot parse the answer") from exc


def _chained() -> CapturedException:
    try:
        _crawl("{not json")
    except CrawlError as exc:
        return capture_exception(
            exc, "capture_errors", handled=False, attributes={"n": [1]}, packages=("tests.unit",)
        )
    raise AssertionError("did not raise")


def _conforms(value: Any, hint: Any) -> bool:
    """``value`` (parsed JSON) has the shape of the type ``hint``."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return value in typing.get_args(hint)
    if origin in (list, typing.List):
        return isinstance(value, list) and all(
            _conforms(item, typing.get_args(hint)[0]) for item in value
        )
    if isinstance(hint, type) and issubclass(hint, dict):  # a TypedDict
        hints = typing.get_type_hints(hint)
        return (
            isinstance(value, dict)
            and set(value) == set(hints)
            and all(_conforms(value[key], sub) for key, sub in hints.items())
        )
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def test_the_chain_of_a_real_exception() -> None:
    _, event, _ = exception_attributes(_chained(), packages=("tests.unit",))
    chain = json.loads(event[attr.EXCEPTION_CHAIN])

    assert all(_conforms(entry, ChainEntry) for entry in chain)
    root, raised = chain
    assert (root["type"], root["module"], root["relation"]) == (
        "json.decoder.JSONDecodeError",
        "json.decoder",
        "cause",
    )
    assert (raised["type"], raised["message"], raised["relation"]) == (
        "tests.unit.test_spans.CrawlError",
        "cannot parse the answer",
        "",
    )
    # The host's frames (in_app), relative to their sys.path root; ours are dropped.
    assert [(f["filename"], f["function"], f["in_app"]) for f in raised["frames"]] == [
        (HERE, "_chained", True),
        (HERE, "_crawl", True),
    ]
    assert not any(
        f["module"].startswith("otel_telemetry") for entry in chain for f in entry["frames"]
    )
    # Library frames are kept, named relative to their root, and not in_app.
    library = [f for f in root["frames"] if not f["in_app"]]
    assert library
    assert all(f["module"].startswith("json") for f in library)
    assert library[-1]["filename"] == "json/decoder.py"


def test_frames_of_user_code_are_placeholders() -> None:
    _, event, _ = exception_attributes(_chained(), packages=("acme",))
    root, raised = json.loads(event[attr.EXCEPTION_CHAIN])

    assert raised["frames"] == [PLACEHOLDER, PLACEHOLDER]
    assert root["frames"][:2] == [PLACEHOLDER, PLACEHOLDER]  # _crawl, _parse
    assert all(f["filename"] != USER_CODE for f in root["frames"][2:])  # json's own
    text = event[attr.EXCEPTION_STACKTRACE]
    assert HERE not in text
    assert "_crawl" not in text


def test_event_span_attributes_and_status() -> None:
    span, event, status = exception_attributes(_chained(), packages=("tests.unit",))

    assert span == {
        attr.KIND: attr.KIND_EXCEPTION,
        attr.MECHANISM: "capture_errors",
        attr.HANDLED: False,
        "n": "[1]",
    }
    assert event[attr.EXCEPTION_TYPE] == "tests.unit.test_spans.CrawlError"
    assert event[attr.EXCEPTION_MESSAGE] == "cannot parse the answer"
    assert status == "tests.unit.test_spans.CrawlError: cannot parse the answer"
    text = event[attr.EXCEPTION_STACKTRACE]
    assert text.startswith("Traceback (most recent call last):\n")
    assert "The above exception was the direct cause of the following exception:" in text
    assert f'  File "{HERE}", line ' in text
    assert text.endswith("tests.unit.test_spans.CrawlError: cannot parse the answer")


def _recurse(depth: int) -> None:
    if depth == 0:
        raise RecursionError("deep")
    _recurse(depth - 1)


def test_omitted_frames_are_noted() -> None:
    try:
        _recurse(MAX_FRAMES + 20)
    except RecursionError as exc:
        captured = capture_exception(exc, "excepthook", handled=False)

    _, event, _ = exception_attributes(captured, packages=("tests.unit",))
    [entry] = json.loads(event[attr.EXCEPTION_CHAIN])

    assert entry["omitted_frames"] == captured.exceptions[0].omitted_frames > 0
    assert len(entry["frames"]) == MAX_FRAMES
    assert f"[... {entry['omitted_frames']} frames omitted ...]" in event[attr.EXCEPTION_STACKTRACE]


@pytest.mark.parametrize(
    ("message", "status"),
    [("boom", "ValueError: boom"), ("", "ValueError")],
)
def test_an_exception_without_frames(message: str, status: str) -> None:
    captured = CapturedException(
        exceptions=(RawException("builtins", "ValueError", message, ()),),
        mechanism="capture_exception",
        handled=True,
    )
    _, event, description = exception_attributes(captured, packages=())
    assert description == status
    assert event[attr.EXCEPTION_STACKTRACE] == status  # no "Traceback" header without frames


@pytest.mark.parametrize(
    ("module", "qualname", "name"),
    [
        ("builtins", "ValueError", "ValueError"),
        ("__builtin__", "ValueError", "ValueError"),
        ("", "Local", "Local"),
        ("acme.errors", "CrawlError", "acme.errors.CrawlError"),
        ("acme", "Outer.Inner", "acme.Outer.Inner"),
    ],
)
def test_exception_type_name(module: str, qualname: str, name: str) -> None:
    assert exception_type_name(RawException(module, qualname, "", ())) == name


ROOT = os.path.abspath(os.sep)


def _p(*parts: str) -> str:
    return os.path.join(ROOT, *parts)


@pytest.mark.parametrize(
    ("filename", "roots", "relative"),
    [
        pytest.param("", (), "", id="empty"),
        pytest.param(
            "<frozen importlib._bootstrap>", (), "<frozen importlib._bootstrap>", id="frozen"
        ),
        pytest.param("<string>", (_p("a", ""),), "<string>", id="string"),
        pytest.param(
            _p("a", "b", "pkg", "mod.py"), (_p("a", "b", ""),), "pkg/mod.py", id="under a root"
        ),
        pytest.param(
            _p("venv", "site-packages", "x", "y.py"),
            (_p("venv", "site-packages", ""), _p("venv", "")),
            "x/y.py",
            id="longest root first",
        ),
        pytest.param(
            _p("home", "alice", "secret", "name.py"), (_p("a", ""),), "name.py", id="outside"
        ),
        pytest.param(_p("a", "bc", "m.py"), (_p("a", "b", ""),), "m.py", id="not a mere prefix"),
        pytest.param(
            _p("a", "b", "..", "b", "pkg", "m.py"), (_p("a", "b", ""),), "pkg/m.py", id="normalised"
        ),
        pytest.param(
            os.path.join("pkg", "mod.py"),
            (os.path.join(os.getcwd(), ""),),
            "mod.py",
            id="a relative name: its last part, whatever the working dir",
        ),
    ],
)
def test_relative_filename(filename: str, roots: tuple, relative: str) -> None:
    assert relative_filename(filename, roots) == relative


class _Thing:
    def __str__(self) -> str:
        return "thing"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("text", "text", id="str"),
        pytest.param(True, True, id="bool"),
        pytest.param(3, 3, id="int"),
        pytest.param(2.5, 2.5, id="float"),
        pytest.param(["a", "b"], ("a", "b"), id="list of str"),
        pytest.param(("a",), ("a",), id="tuple of str"),
        # What send_event queues arrives as it is: an OTel array of one type.
        pytest.param([], (), id="empty list"),
        pytest.param((1, 2), (1, 2), id="tuple of int"),
        pytest.param([0.5, 1.5], (0.5, 1.5), id="list of float"),
        pytest.param((True, False), (True, False), id="tuple of bool"),
        # Anything else (queued another way) becomes JSON text, which the scrubber parses.
        pytest.param([2**70, 1], f"[{2**70},1]", id="list of int beyond 64 bits"),
        pytest.param([True, 1], "[true,1]", id="bool and int"),
        pytest.param(["a", 1], '["a",1]', id="mixed list"),
        pytest.param(["a", None], '["a",null]', id="list holding None"),
        pytest.param({"k": [1, None]}, '{"k":[1,null]}', id="dict"),
        pytest.param(_Thing(), '"thing"', id="object"),
    ],
)
def test_event_attribute_values(value: Any, expected: Any) -> None:
    captured = CapturedEvent("page_view", {"key": value, 7: "seven"})
    assert event_attributes(captured) == {
        attr.KIND: attr.KIND_EVENT,
        "key": expected,
        "7": "seven",
    }


def test_a_none_value_is_left_out() -> None:
    # OTel has no null attribute: a property that is None is absent.
    captured = CapturedEvent("page_view", {"gone": None, "kept": 1})
    assert event_attributes(captured) == {attr.KIND: attr.KIND_EVENT, "kept": 1}


@pytest.fixture
def recorded() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    return exporter


def _recorder(exporter: InMemorySpanExporter) -> SpanRecorder:
    return SpanRecorder(
        SimpleSpanProcessor(exporter),
        Resource({"service.name": "unit"}),
        InstrumentationScope("unit", "1.0"),
    )


def _sdk_span(captured: Any, *, install_id: Any = None) -> Any:
    """What the SDK's own tracer makes of a capture: the spans the recorder replaced."""
    from opentelemetry.context import Context
    from opentelemetry.trace import Status

    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        shutdown_on_exit=False, resource=Resource({"service.name": "unit"}), sampler=ALWAYS_ON
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("unit", "1.0")
    name, attributes, event, description = report_parts(
        captured, packages=("tests.unit",), mode="server", install_id=install_id
    )
    span = tracer.start_span(
        name,
        context=Context(),
        attributes=attributes,
        start_time=captured.time_ns,
        record_exception=False,
        set_status_on_exception=False,
    )
    if event is not None:
        span.add_event(attr.EVENT_EXCEPTION, event, timestamp=captured.time_ns)
        span.set_status(Status(StatusCode.ERROR, description))
    span.end(end_time=captured.time_ns)
    [done] = exporter.get_finished_spans()
    return done


def _shape(span: Any) -> dict[str, Any]:
    """Everything of a span but its ids, which are random."""
    return {
        "name": span.name,
        "parent": span.parent,
        "kind": span.kind,
        "start": span.start_time,
        "end": span.end_time,
        "attributes": dict(span.attributes),
        "dropped_attributes": span.dropped_attributes,
        "events": [(e.name, dict(e.attributes), e.timestamp) for e in span.events],
        "links": list(span.links),
        "status": (span.status.status_code, span.status.description),
        "resource": span.resource,
        "scope": span.instrumentation_scope,
        "sampled": span.context.trace_flags.sampled,
        "remote": span.context.is_remote,
    }


@pytest.mark.parametrize(
    ("captured", "install_id"),
    [
        (_chained(), None),
        (CapturedEvent("page_view", {"page": "home", "n": (1, 2)}, time_ns=5), "abc"),
    ],
    ids=["crash", "usage event"],
)
def test_the_recorder_makes_the_span_the_sdk_tracer_makes(captured: Any, install_id: Any) -> None:
    recorded = InMemorySpanExporter()
    record_span(
        _recorder(recorded),
        captured,
        packages=("tests.unit",),
        mode="server",
        install_id=install_id,
    )
    [ours] = recorded.get_finished_spans()
    assert _shape(ours) == _shape(_sdk_span(captured, install_id=install_id))
    assert ours.context.trace_id != 0
    assert ours.context.span_id != 0


def test_the_recorder_keeps_its_own_attributes_first_over_the_limit() -> None:
    recorded = InMemorySpanExporter()
    recorder = SpanRecorder(
        SimpleSpanProcessor(recorded), Resource({}), InstrumentationScope("unit"), max_attributes=3
    )
    recorder.record("x", {"a": 1, "b": 2, attr.KIND: "exception", "c": 3}, None, None, 1)
    [span] = recorded.get_finished_spans()
    assert dict(span.attributes) == {attr.KIND: "exception", "a": 1, "b": 2}
    assert span.dropped_attributes == 1


def test_record_span_of_an_exception(recorded: InMemorySpanExporter) -> None:
    captured = _chained()
    record_span(
        _recorder(recorded), captured, packages=("tests.unit",), mode="server", install_id="id"
    )

    [span] = recorded.get_finished_spans()
    assert span.name == attr.SPAN_EXCEPTION
    assert span.parent is None
    assert (span.start_time, span.end_time) == (captured.time_ns, captured.time_ns)
    assert span.attributes[attr.MODE] == "server"
    assert attr.INSTALL_ID not in span.attributes  # crash reports never carry the id
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "tests.unit.test_spans.CrawlError: cannot parse the answer"
    [event] = span.events
    assert event.name == attr.EVENT_EXCEPTION
    assert event.timestamp == captured.time_ns


@pytest.mark.parametrize(("install_id", "has_id"), [("abc", True), (None, False)])
def test_record_span_of_a_usage_event(
    recorded: InMemorySpanExporter, install_id, has_id: bool
) -> None:
    record_span(
        _recorder(recorded),
        CapturedEvent("page_view", {"page": "home"}, time_ns=5),
        packages=(),
        mode="interactive",
        install_id=install_id,
    )

    [span] = recorded.get_finished_spans()
    assert span.name == "page_view"
    assert span.events == ()
    assert span.status.status_code is StatusCode.UNSET
    expected = {attr.KIND: attr.KIND_EVENT, "page": "home", attr.MODE: "interactive"}
    if has_id:
        expected[attr.INSTALL_ID] = install_id
    assert dict(span.attributes) == expected


def test_sys_path_is_where_names_are_relative_to(monkeypatch: pytest.MonkeyPatch) -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    monkeypatch.setattr(sys, "path", [here, *sys.path])
    _, event, _ = exception_attributes(_chained(), packages=("tests.unit",))
    [_, raised] = json.loads(event[attr.EXCEPTION_CHAIN])
    assert raised["frames"][0]["filename"] == "test_spans.py"


def test_a_relative_file_name_is_never_a_library_whatever_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The directory is read after the capture: inside site-packages, it must not matter."""
    from otel_telemetry.pipeline._spans import _is_library

    library, user = tmp_path / "site-packages", tmp_path / "project"
    library.mkdir()
    user.mkdir()
    roots = (f"{library}{os.sep}",)
    absolute = str(library / "lib.py")

    assert _is_library(absolute, roots) is True
    assert _is_library(absolute, roots) is True  # remembered, the same
    assert _is_library(absolute, (f"{user}{os.sep}",)) is False  # other roots, other answer
    for where in (library, user):
        monkeypatch.chdir(where)
        assert _is_library("crash.py", roots) is False
        assert _is_library(os.path.join("..", "site-packages", "lib.py"), roots) is False


def _raise_compiled_as(filename: str, message: str) -> CapturedException:
    """A crash raised by code compiled under ``filename``, called from this package."""
    scope: dict[str, Any] = {}
    exec(compile("def lookup(m):\n    raise RuntimeError(m)\n", filename, "exec"), scope)
    try:
        scope["lookup"](message)
    except RuntimeError as exc:
        return capture_exception(exc, "capture_exception", True, packages=("tests.unit",))
    raise AssertionError("not raised")


def test_the_users_code_under_a_relative_name_stays_the_users_in_site_packages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a red team: the host moved into site-packages between the capture and
    # the recording, and the user's message and function name left the machine.
    captured = _raise_compiled_as("script.py", "patient Jane Roe record 31")
    library = tmp_path / "site-packages"
    library.mkdir()
    monkeypatch.syspath_prepend(str(library))  # a library root, as site-packages is
    monkeypatch.chdir(library)
    _, event, _ = exception_attributes(captured, packages=("tests.unit",))

    assert event[attr.EXCEPTION_MESSAGE] == "[user message]"
    assert "Jane" not in event[attr.EXCEPTION_STACKTRACE]
    assert "lookup" not in event[attr.EXCEPTION_CHAIN]


def test_a_removed_working_directory_loses_no_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by a red team: a frame of the host's package under a relative name, the
    # working directory removed (and "" on sys.path): recording raised, the report was lost.
    scope: dict[str, Any] = {"__name__": "tests.unit.generated"}
    exec(compile("def parse(m):\n    raise ValueError(m)\n", "tests/unit/gen.py", "exec"), scope)
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    monkeypatch.syspath_prepend("")
    gone.rmdir()
    try:
        scope["parse"]("cannot parse the answer")
    except ValueError as exc:
        captured = capture_exception(exc, "capture_exception", True, packages=("tests.unit",))
    _, event, _ = exception_attributes(captured, packages=("tests.unit",))

    frames = json.loads(event[attr.EXCEPTION_CHAIN])[-1]["frames"]
    assert frames[-1]["filename"] == "gen.py"
    assert frames[-1]["in_app"] is True


def test_the_same_crash_again_is_remembered_and_each_report_gets_its_own_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from otel_telemetry.pipeline import _spans

    worked_out: list[int] = []
    real = _spans._exception_event

    def counting(*args: Any) -> Any:
        worked_out.append(1)
        return real(*args)

    monkeypatch.setattr(_spans, "_events", Memo())
    monkeypatch.setattr(_spans, "_exception_event", counting)
    captured = _chained()
    first = exception_attributes(captured, packages=("tests.unit",))
    first[1][attr.EXCEPTION_MESSAGE] = "changed by its receiver"
    second = exception_attributes(_chained(), packages=("tests.unit",))
    assert len(worked_out) == 1
    assert second[1][attr.EXCEPTION_MESSAGE] == "cannot parse the answer"
    assert second[1][attr.EXCEPTION_STACKTRACE] == first[1][attr.EXCEPTION_STACKTRACE]

    # Another package list, another message or another sys.path: worked out again.
    assert exception_attributes(captured, packages=("acme",))[1] != second[1]
    other = CapturedException(
        exceptions=tuple(
            RawException(
                e.module, e.qualname, f"{e.message}!", e.frames, e.omitted_frames, e.relation
            )
            for e in captured.exceptions
        ),
        mechanism=captured.mechanism,
        handled=captured.handled,
        attributes={},
    )
    assert (
        exception_attributes(other, packages=("tests.unit",))[1][attr.EXCEPTION_MESSAGE]
        == "cannot parse the answer!"
    )
    monkeypatch.setattr(sys, "path", [os.path.dirname(os.path.dirname(__file__)), *sys.path])
    moved = exception_attributes(captured, packages=("tests.unit",))[1]
    assert 'File "unit/test_spans.py"' in str(moved[attr.EXCEPTION_STACKTRACE])
    assert len(worked_out) == 4


def test_what_is_remembered_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from otel_telemetry.pipeline import _spans

    monkeypatch.setattr(_spans, "_events", Memo(max_chars=10_000))
    base = _chained()
    for index in range(200):
        raised = base.exceptions[-1]
        exception_attributes(
            CapturedException(
                exceptions=(
                    RawException("builtins", "ValueError", f"message {index}", raised.frames),
                ),
                mechanism="capture_exception",
                handled=True,
                attributes={},
            ),
            packages=("tests.unit",),
        )
        assert _spans._events.chars <= 10_000
    assert 0 < len(_spans._events) < 200


def test_what_is_remembered_counts_the_frames_it_keeps_alive() -> None:
    # Found by a red team: the memory of events was bounded on the events' text only,
    # while its keys kept the raw frames of the user's code (long names of code compiled
    # at run time, which the events hold as placeholders): 118 MB for 200 crashes.
    import gc
    import tracemalloc

    from otel_telemetry.pipeline import _spans

    _spans._events.clear()
    _spans._frames.clear()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for index in range(200):
            frames = tuple(
                (f"/srv/generated/{index}/{depth}/" + "p" * 20_000, depth + 1, "render", "tmpl")
                for depth in range(100)
            )
            exception_attributes(
                CapturedException(
                    (RawException("builtins", "KeyError", "", frames),), "excepthook", False
                ),
                packages=("acme",),
            )
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 16 * 2**20, f"{held / 2**20:.0f} MB held"
