"""Usage events: typed events, the limits on their values, ``opt_out_env``, the PostHog settings.

The limits are checked at ``send_event`` on the host's thread (``capture/_events.py``):
an event within them is queued with its properties copied; one that breaks a limit is
refused whole, nothing is queued, and one warning per event, property and kind of
problem names them, never the value. No code of the host runs while checking.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import math
import os
from collections import OrderedDict, namedtuple
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Optional

import pytest

from otel_telemetry import Telemetry, TelemetryEvent, _log
from otel_telemetry import _attributes as attr
from otel_telemetry._settings import Settings
from otel_telemetry._status import TelemetryStatus
from otel_telemetry.capture import _events
from otel_telemetry.capture._events import MAX_ITEMS, MAX_PROPERTIES, MAX_STRING
from otel_telemetry.capture._reporter import Reporter
from otel_telemetry.capture._snapshot import CapturedEvent
from otel_telemetry.consent._environment import globally_disabled
from otel_telemetry.testing import capture_reports

WAIT = 10.0


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No variable of the machine decides, no warning remembered from another test."""
    for name in list(os.environ):
        if name.startswith(("ACME_", "OTEL_")) or name in ("DO_NOT_TRACK", "ANONYMIZED_TELEMETRY"):
            monkeypatch.delenv(name)
    config_dir = tmp_path / "config"
    monkeypatch.setenv("ACME_CONFIG_DIR", str(config_dir))
    monkeypatch.setenv("ACME_TELEMETRY_MODE", "non-interactive")
    monkeypatch.setattr(_log, "_warned", set())
    monkeypatch.setattr(_events, "_warned", set())
    monkeypatch.setattr(_events, "_CLASSES", {})
    return config_dir


class Queue:
    """What the reporter queues, through a real ``Reporter``."""

    def __init__(self, denied: Any = lambda: False) -> None:
        self.queued: list[CapturedEvent] = []
        self.reporter = Reporter(
            app="acme",
            packages=("tests",),
            ignore=(),
            storm_limits=(5, 60.0),
            denied=denied,
            granted=lambda: True,
            should_report=None,
            submit=self.queued.append,
            noted=lambda mechanism, seq: None,
            watch_asyncio=lambda: None,
        )

    def send(self, event: Any, payload: Any = None) -> list[CapturedEvent]:
        self.reporter.report_event(event, payload)
        return self.queued


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "otel_telemetry" and r.levelno == logging.WARNING
    ]


@dataclass(frozen=True)
class CrawlFinished(TelemetryEvent):
    name: ClassVar[str] = "crawl_finished"
    pages: int
    browser: str
    success: bool
    ratio: float = 0.5
    tags: tuple[str, ...] = ()
    note: Optional[str] = None


# -- accepted values ----------------------------------------------------------------------------

ACCEPTED = [
    pytest.param(True, True, id="bool"),
    pytest.param(False, False, id="false"),
    pytest.param(0, 0, id="int"),
    pytest.param(-(2**63), -(2**63), id="smallest int64"),
    pytest.param(2**63 - 1, 2**63 - 1, id="largest int64"),
    pytest.param(0.25, 0.25, id="float"),
    pytest.param(-0.0, -0.0, id="negative zero"),
    pytest.param(1e308, 1e308, id="large float"),
    pytest.param(None, None, id="None"),
    pytest.param("", "", id="empty str"),
    pytest.param("x" * MAX_STRING, "x" * MAX_STRING, id="str of 64 characters"),
    pytest.param("café ☕", "café ☕", id="non-ASCII str"),
    pytest.param("é" * MAX_STRING, "é" * MAX_STRING, id="non-ASCII str of 64 characters"),
    pytest.param(["a", "b"], ("a", "b"), id="list of str"),
    pytest.param(("a",), ("a",), id="tuple of str"),
    pytest.param([1, 2], (1, 2), id="list of int"),
    pytest.param([0.5, 1.5], (0.5, 1.5), id="list of float"),
    pytest.param([True, False], (True, False), id="list of bool"),
    pytest.param([], (), id="empty list"),
    pytest.param(list(range(MAX_ITEMS)), tuple(range(MAX_ITEMS)), id="list of 64 items"),
    pytest.param(["y" * MAX_STRING], ("y" * MAX_STRING,), id="list of a str of 64"),
]


@pytest.mark.parametrize(("value", "queued"), ACCEPTED)
def test_an_accepted_value_is_queued_as_it_is(value: Any, queued: Any) -> None:
    [event] = Queue().send("page_view", {"value": value})

    assert event.name == "page_view"
    assert event.payload == {"value": queued}
    assert type(event.payload["value"]) is type(queued)


@pytest.mark.parametrize(("value", "queued"), ACCEPTED)
def test_an_accepted_value_is_recorded_as_an_otel_attribute(value: Any, queued: Any) -> None:
    telemetry = Telemetry(app="acme", package="tests")
    with capture_reports(telemetry) as reports:
        telemetry.send_event("page_view", {"value": value})
        assert telemetry.flush(WAIT)

    [span] = reports
    expected = {attr.KIND: attr.KIND_EVENT, attr.MODE: "non-interactive"}
    if queued is not None:  # OTel has no null attribute: None is left out
        expected["value"] = queued
    assert dict(span.attributes) == expected


@pytest.mark.parametrize(
    "name",
    ["a", "crawl_finished", "crawl.finished", "v2", "a" * 64, "page.view_2.x"],
)
def test_valid_names(name: str) -> None:
    [event] = Queue().send(name, {name: 1})
    assert (event.name, event.payload) == (name, {name: 1})


def test_properties_are_copied_at_the_call() -> None:
    tags = ["a", "b"]
    payload = {"tags": tags, "pages": 3}
    [event] = Queue().send("page_view", payload)

    tags.append("c")
    payload["pages"] = 4
    payload["new"] = 1

    assert event.payload == {"tags": ("a", "b"), "pages": 3}


def test_a_dict_subclass_is_read_through_dict_itself(caplog: pytest.LogCaptureFixture) -> None:
    class Tricky(dict):  # type: ignore[type-arg]
        def items(self) -> Any:
            raise AssertionError("the host's items() ran")

        def __iter__(self) -> Any:
            raise AssertionError("the host's __iter__ ran")

        def __len__(self) -> int:
            raise AssertionError("the host's __len__ ran")

        def __getitem__(self, key: Any) -> Any:
            raise AssertionError("the host's __getitem__ ran")

    queue = Queue()
    queue.send("page_view", Tricky(pages=3))
    queue.send("page_view", OrderedDict(pages=4))

    assert [event.payload for event in queue.queued] == [{"pages": 3}, {"pages": 4}]
    assert _warnings(caplog) == []


# -- refused values -----------------------------------------------------------------------------


class Browser(str, enum.Enum):
    CHROMIUM = "chromium"


class Count(enum.IntEnum):
    ONE = 1


Point = namedtuple("Point", "x y")


class HostObject:
    """An object of the host's: refused without a call into it."""

    def __str__(self) -> str:
        raise AssertionError("__str__ ran")

    __repr__ = __str__


REFUSED = [
    pytest.param("x" * (MAX_STRING + 1), "a str longer than 64 characters", id="long str"),
    pytest.param("\udcff.txt", "a str that is not text (a lone surrogate)", id="lone surrogate"),
    pytest.param(2**63, "an int beyond 64 bits", id="int beyond 64 bits"),
    pytest.param(-(2**63) - 1, "an int beyond 64 bits", id="int below 64 bits"),
    pytest.param(math.nan, "a float that is not finite (NaN or infinity)", id="NaN"),
    pytest.param(math.inf, "a float that is not finite (NaN or infinity)", id="infinity"),
    pytest.param(-math.inf, "a float that is not finite (NaN or infinity)", id="minus infinity"),
    pytest.param({"k": 1}, "a value of type dict; values must be", id="dict"),
    pytest.param({"a"}, "a value of type set; values must be", id="set"),
    pytest.param(b"bytes", "a value of type bytes; values must be", id="bytes"),
    pytest.param(bytearray(b"x"), "a value of type bytearray; values must be", id="bytearray"),
    pytest.param(1j, "a value of type complex; values must be", id="complex"),
    pytest.param(Decimal("1.5"), "a value of type decimal.Decimal; values must be", id="Decimal"),
    pytest.param(
        PurePosixPath("/home/alice/notes.txt"),
        # pathlib._local on 3.13: the class's own module, whatever it is.
        f"a value of type {PurePosixPath.__module__}.PurePosixPath; values must be",
        id="path",
    ),
    pytest.param(HostObject(), "a value of type tests.unit.test_events.HostObject", id="object"),
    pytest.param(
        Browser.CHROMIUM,
        "a value of type tests.unit.test_events.Browser (a subclass of str; pass a plain str)",
        id="str enum",
    ),
    pytest.param(
        Count.ONE,
        "a value of type tests.unit.test_events.Count (a subclass of int; pass a plain int)",
        id="int enum",
    ),
    pytest.param(
        Point(1, 2),
        "a value of type tests.unit.test_events.Point (a subclass of tuple; pass a plain tuple)",
        id="namedtuple",
    ),
    pytest.param([[1]], "a list holding a value of type list; items must be", id="nested list"),
    pytest.param([{"k": 1}], "a list holding a value of type dict", id="list of dict"),
    pytest.param(["a", None], "a list holding None; items must be", id="list holding None"),
    pytest.param(["a", 1], "a list mixing types; items must be all of one type", id="mixed list"),
    pytest.param([1, True], "a list mixing types", id="int and bool"),
    pytest.param([1, 0.5], "a list mixing types", id="int and float"),
    pytest.param(
        ["ok", "z" * (MAX_STRING + 1)],
        "a list holding a str longer than 64 characters",
        id="list holding a long str",
    ),
    pytest.param([math.nan], "a list holding a float that is not finite", id="list holding NaN"),
    pytest.param([2**64], "a list holding an int beyond 64 bits", id="list holding a huge int"),
    pytest.param(list(range(MAX_ITEMS + 1)), "a list of more than 64 items", id="65 items"),
    pytest.param([Browser.CHROMIUM], "a list holding a value of type", id="list of enums"),
]


@pytest.mark.parametrize(("value", "problem"), REFUSED)
def test_a_refused_value_refuses_the_whole_event(
    value: Any, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queued = Queue().send("checkout", {"pages": 3, "secret_value": value, "ok": True})

    assert queued == []  # the whole event: not even its valid properties
    [warning] = _warnings(caplog)
    assert warning.startswith(
        "otel_telemetry: acme's usage event 'checkout' was not sent:"
        f" property 'secret_value' holds {problem}"
    ), warning
    for shown in ("/home/alice", "zzzzzzzz", "\udcff", "bytes", "1.5'"):
        assert shown not in warning.replace("type bytes", "")


@pytest.mark.parametrize(("value", "problem"), REFUSED)
def test_a_refused_value_of_a_typed_event(value: Any, problem: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queued = Queue().send(CrawlFinished(pages=3, browser="x", success=True, note=value))

    assert queued == []
    [warning] = _warnings(caplog)
    assert warning.startswith(
        "otel_telemetry: acme's usage event tests.unit.test_events.CrawlFinished"
        f" ('crawl_finished') was not sent: property 'note' holds {problem}"
    ), warning


BAD_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("a" * 65, id="65 characters"),
    pytest.param("Crawl", id="capital"),
    pytest.param("crawl finished", id="space"),
    pytest.param("crawl-finished", id="dash"),
    pytest.param("1crawl", id="digit first"),
    pytest.param("_crawl", id="underscore first"),
    pytest.param("$pageview", id="PostHog's own"),
    pytest.param("visited https://alice.example/x", id="data"),
    pytest.param("crawl\n", id="newline"),
    pytest.param("crawlé", id="non-ASCII"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_event_name_is_refused_and_never_shown(name: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queued = Queue().send(name, {"pages": 1})

    assert queued == []
    [warning] = _warnings(caplog)
    assert warning == (
        "otel_telemetry: a usage event of acme was not sent: its name is not 1 to 64"
        " characters of a-z, 0-9, '_' and '.', starting with a letter (usage events carry"
        " flags, numbers and short names only)."
    )


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_property_name_is_refused_and_never_shown(name: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queued = Queue().send("page_view", {"pages": 1, name: 1})

    assert queued == []
    [warning] = _warnings(caplog)
    assert "'page_view' was not sent: a property name is not 1 to 64 characters" in warning
    if name:
        assert name not in warning.replace("page_view", "")


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        (attr.KIND, "the property name 'otel_telemetry.kind' is reserved for otel_telemetry"),
        (attr.SCRUBBED, "the property name 'otel_telemetry.scrubbed' is reserved"),
        (attr.INSTALL_ID, "the property name 'otel_telemetry.install_id' is reserved"),
        (attr.USER_EMAIL, "the property name 'user.email' is reserved for otel_telemetry"),
        (7, "a property name is not a str but a value of type int"),
        ((1, 2), "a property name is not a str but a value of type tuple"),
        (Browser.CHROMIUM, "a property name is not a str but a value of type tests.unit."),
    ],
)
def test_a_reserved_or_odd_key_is_refused(key: Any, problem: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queued = Queue().send("page_view", {key: "x"})

    assert queued == []
    [warning] = _warnings(caplog)
    assert f"'page_view' was not sent: {problem}" in warning


def test_too_many_properties(caplog: pytest.LogCaptureFixture) -> None:
    queue = Queue()
    within = {f"p{i}": i for i in range(MAX_PROPERTIES)}
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queue.send("wide", within)
        queue.send("wide", {**within, "one_more": 1})

    assert [event.payload for event in queue.queued] == [within]
    assert _warnings(caplog) == [
        "otel_telemetry: acme's usage event 'wide' was not sent: it has more than 32"
        " properties (usage events carry flags, numbers and short names only)."
    ]


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (["pages", 3], "its payload is not a dict but a value of type list"),
        ("pages=3", "its payload is not a dict but a value of type str"),
        (dataclasses.make_dataclass("P", ["pages"])(3), "its payload is not a dict but a value"),
    ],
)
def test_a_payload_that_is_not_a_dict(payload: Any, problem: str, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        assert Queue().send("page_view", payload) == []
    [warning] = _warnings(caplog)
    assert f"'page_view' was not sent: {problem}" in warning


# -- hostile values: nothing of the host runs, nothing raises -----------------------------------


class Raises:
    """Every method a check could call raises, and says so."""

    calls: ClassVar[list[str]] = []

    def _raise(self, *args: Any) -> Any:
        Raises.calls.append("called")
        raise RuntimeError("the host's code ran")

    __eq__ = __ne__ = __lt__ = __hash__ = __str__ = __repr__ = __len__ = __iter__ = _raise  # type: ignore[assignment]
    __bool__ = __index__ = __int__ = __float__ = __format__ = _raise  # type: ignore[assignment]


class EvilStr(str):
    def __len__(self) -> int:
        raise RuntimeError("len ran")

    def isascii(self) -> bool:
        raise RuntimeError("isascii ran")

    def encode(self, *args: Any) -> bytes:  # type: ignore[override]
        raise RuntimeError("encode ran")

    def __hash__(self) -> int:
        raise RuntimeError("hash ran")

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("eq ran")


class EvilInt(int):
    def __le__(self, other: object) -> bool:
        raise RuntimeError("le ran")

    def __ge__(self, other: object) -> bool:
        raise RuntimeError("ge ran")


class EvilFloat(float):
    def __sub__(self, other: object) -> float:
        raise RuntimeError("sub ran")


class EvilList(list):  # type: ignore[type-arg]
    def __iter__(self) -> Any:
        raise RuntimeError("iter ran")

    def __len__(self) -> int:
        raise RuntimeError("len ran")


class LyingClass:
    """Claims to be a TelemetryEvent and a str through ``__class__``."""

    @property  # type: ignore[misc]
    def __class__(self) -> type:
        Raises.calls.append("__class__")
        return str


HOSTILE = [
    pytest.param(Raises(), id="every method raises"),
    pytest.param(EvilStr("short"), id="str subclass"),
    pytest.param(EvilInt(3), id="int subclass"),
    pytest.param(EvilFloat(0.5), id="float subclass"),
    pytest.param(EvilList([1, 2]), id="list subclass"),
    pytest.param([Raises()], id="in a list"),
    pytest.param((EvilStr("a"),), id="str subclass in a tuple"),
    pytest.param(LyingClass(), id="lying __class__"),
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_value_is_refused_without_running_the_host_s_code(value: Any, caplog) -> None:
    Raises.calls.clear()
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queued = Queue().send("page_view", {"value": value})

    assert queued == []
    assert Raises.calls == []
    [warning] = _warnings(caplog)
    assert "property 'value' holds" in warning


@pytest.mark.parametrize(
    "event", [*HOSTILE, pytest.param(None, id="None"), pytest.param(3, id="int")]
)
def test_an_event_that_is_neither_a_name_nor_a_telemetry_event(event: Any, caplog) -> None:
    Raises.calls.clear()
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        assert Queue().send(event, {"pages": 1}) == []

    assert Raises.calls == []
    [warning] = _warnings(caplog)
    assert warning.startswith(
        "otel_telemetry: a usage event of acme was not sent: it is neither a name (a str) nor"
        " a TelemetryEvent, but a value of type"
    )


def test_a_key_with_a_hash_of_its_own_is_never_hashed(caplog) -> None:
    class Key:
        hashed = 0

        def __hash__(self) -> int:
            Key.hashed += 1
            return 1

    payload = {Key(): 1}
    Key.hashed = 0
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        assert Queue().send("page_view", payload) == []
    assert Key.hashed == 0
    assert len(_warnings(caplog)) == 1


def test_a_typed_event_is_read_without_its_own_attribute_access() -> None:
    @dataclass(frozen=True)
    class Guarded(TelemetryEvent):
        name: ClassVar[str] = "guarded"
        pages: int

        def __getattribute__(self, item: str) -> Any:
            raise RuntimeError("the host's __getattribute__ ran")

    [event] = Queue().send(Guarded(pages=2))
    assert (event.name, event.payload) == ("guarded", {"pages": 2})


def test_a_failing_queue_never_raises_into_the_host() -> None:
    def submit(captured: Any) -> None:
        raise RuntimeError("queue bug")

    reporter = Queue().reporter
    reporter._submit = submit  # type: ignore[method-assign]
    reporter.report_event("page_view", {"pages": 1})  # no exception


# -- warnings: once per event, property and problem ---------------------------------------------


def test_one_warning_per_event_property_and_problem(caplog: pytest.LogCaptureFixture) -> None:
    queue = Queue()
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        for _ in range(3):
            queue.send("checkout", {"url": "https://alice.example/" + "x" * 80})
        queue.send("checkout", {"url": {"nested": 1}})  # another problem
        queue.send("checkout", {"seed": "s" * 80})  # another property
        queue.send("signup", {"url": "u" * 80})  # another event
        queue.send("checkout", {"url": "short"})  # within the limits: sent

    assert [event.payload for event in queue.queued] == [{"url": "short"}]
    warnings = _warnings(caplog)
    assert [w.split(" was not sent: ")[1].split(" (usage")[0] for w in warnings] == [
        "property 'url' holds a str longer than 64 characters",
        "property 'url' holds a value of type dict; values must be bool, int, float, str,"
        " None, or a list of one of them",
        "property 'seed' holds a str longer than 64 characters",
        "property 'url' holds a str longer than 64 characters",
    ]
    assert "'signup'" in warnings[3]
    assert not any("alice" in w or "xxxx" in w for w in warnings)


def test_warnings_are_bounded(monkeypatch: pytest.MonkeyPatch, caplog) -> None:
    monkeypatch.setattr(_events, "_MAX_WARNINGS", 3)
    queue = Queue()
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        for index in range(10):
            queue.send(f"event_{index}", {"bad": b""})

    warnings = _warnings(caplog)
    assert len(warnings) == 4
    assert warnings[-1] == (
        "otel_telemetry: more usage events of acme were refused; they are not warned about"
        " one by one"
    )


# -- typed events -------------------------------------------------------------------------------


def test_typed_and_named_forms_give_the_same_span() -> None:
    telemetry = Telemetry(app="acme", package="tests")
    with capture_reports(telemetry) as reports:
        telemetry.send_event(
            CrawlFinished(pages=3, browser="chromium", success=True, tags=("a", "b"))
        )
        telemetry.send_event(
            "crawl_finished",
            {
                "pages": 3,
                "browser": "chromium",
                "success": True,
                "ratio": 0.5,
                "tags": ["a", "b"],
                "note": None,
            },
        )
        assert telemetry.flush(WAIT)

    typed, named = reports
    assert typed.name == named.name == "crawl_finished"
    assert (
        dict(typed.attributes)
        == dict(named.attributes)
        == {
            attr.KIND: attr.KIND_EVENT,
            "pages": 3,
            "browser": "chromium",
            "success": True,
            "ratio": 0.5,
            "tags": ("a", "b"),
            attr.MODE: "non-interactive",
        }
    )
    assert typed.events == named.events == ()


def test_a_subclass_of_an_event_keeps_its_fields() -> None:
    @dataclass(frozen=True)
    class CrawlFinishedV2(CrawlFinished):
        name: ClassVar[str] = "crawl_finished_v2"
        retries: int = 0

    [event] = Queue().send(CrawlFinishedV2(pages=1, browser="webkit", success=False, retries=2))
    assert event.name == "crawl_finished_v2"
    assert event.payload == {
        "pages": 1,
        "browser": "webkit",
        "success": False,
        "ratio": 0.5,
        "tags": (),
        "note": None,
        "retries": 2,
    }


def _not_decorated() -> TelemetryEvent:
    class NotDecorated(TelemetryEvent):
        name: ClassVar[str] = "not_decorated"
        pages: int = 1

    return NotDecorated()


def _inherits_but_not_decorated() -> TelemetryEvent:
    class Renamed(CrawlFinished):
        name: ClassVar[str] = "renamed"

    return Renamed(pages=1, browser="x", success=True)


def _without_name() -> TelemetryEvent:
    @dataclass(frozen=True)
    class Nameless(TelemetryEvent):
        pages: int

    return Nameless(pages=1)


def _name_as_field() -> TelemetryEvent:
    @dataclass(frozen=True)
    class NameField(TelemetryEvent):
        name: str = "as_field"  # type: ignore[misc]

    return NameField()


def _bad_name() -> TelemetryEvent:
    @dataclass(frozen=True)
    class BadName(TelemetryEvent):
        name: ClassVar[str] = "Crawl Finished"

    return BadName()


def _name_not_str() -> TelemetryEvent:
    @dataclass(frozen=True)
    class NumberName(TelemetryEvent):
        name: ClassVar[str] = 3  # type: ignore[assignment]

    return NumberName()


def _camel_case_field() -> TelemetryEvent:
    @dataclass(frozen=True)
    class Camel(TelemetryEvent):
        name: ClassVar[str] = "camel"
        pageCount: int

    return Camel(pageCount=1)


def _too_many_fields() -> TelemetryEvent:
    fields = [(f"f{i}", int, dataclasses.field(default=i)) for i in range(MAX_PROPERTIES + 1)]
    wide = dataclasses.make_dataclass(
        "Wide", fields, bases=(TelemetryEvent,), frozen=True, namespace={"name": "wide"}
    )
    event: TelemetryEvent = wide()
    return event


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (_not_decorated, "its class is not decorated with @dataclass(frozen=True)"),
        (_inherits_but_not_decorated, "its class is not decorated with @dataclass(frozen=True)"),
        (_without_name, "its class has no name; write name: ClassVar[str] = '...'"),
        (_name_as_field, "it declares name as a field; write name: ClassVar[str] = '...'"),
        (_bad_name, "its name is not 1 to 64 characters"),
        (_name_not_str, "its class has no name"),
        (_camel_case_field, "the name of its field 'pageCount' is not 1 to 64 characters"),
        (_too_many_fields, "it has more than 32 fields"),
    ],
)
def test_a_bad_event_class_is_refused_with_one_warning(make, problem: str, caplog) -> None:
    event = make()
    queue = Queue()
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queue.send(event)
        queue.send(event)  # remembered: no second warning

    assert queue.queued == []
    [warning] = _warnings(caplog)
    assert f" was not sent: {problem}" in warning
    assert type(event).__qualname__ in warning


def test_a_typed_event_takes_no_payload(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        queued = Queue().send(CrawlFinished(pages=1, browser="x", success=True), {"extra": 1})
    assert queued == []
    assert "a TelemetryEvent takes no payload" in _warnings(caplog)[0]


def test_a_mutable_event_class_cannot_be_defined() -> None:
    # Python itself refuses: the base is frozen, so every event class is.
    with pytest.raises(TypeError, match="non-frozen"):

        @dataclass
        class Mutable(TelemetryEvent):
            name: ClassVar[str] = "mutable"
            pages: int = 0


def test_telemetry_event_is_exported_lazily() -> None:
    import otel_telemetry

    assert "TelemetryEvent" in otel_telemetry.__all__
    assert otel_telemetry.TelemetryEvent is TelemetryEvent


# -- levels and the environment -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "recorded", "drops"),
    [
        ("all", 1, {}),
        ("local", 1, {}),
        ("1", 0, {"usage events off": 1}),  # queued, dropped on the worker for its level
        ("0", 0, {}),  # off by a variable: never even queued
    ],
)
def test_events_are_recorded_at_level_all_only(
    level: str, recorded: int, drops: dict[str, int], clean: Path, monkeypatch
) -> None:
    monkeypatch.setenv("ACME_TELEMETRY", level)
    telemetry = Telemetry(app="acme", package="tests", exporters="file")
    telemetry.send_event("page_view", {"pages": 1})
    assert telemetry.flush(WAIT)

    reports = clean / "telemetry" / "reports"
    lines = [line for f in reports.glob("*.jsonl") for line in f.read_text().splitlines()]
    assert sum('"name": "page_view"' in line or '"name":"page_view"' in line for line in lines) == (
        recorded
    )
    assert {k: v for k, v in telemetry.status().drops.items() if v} == drops
    telemetry.shutdown()


# -- opt_out_env --------------------------------------------------------------------------------

OPT_OUT = [
    # (value of ANONYMIZED_TELEMETRY, off?)
    ("0", True),
    ("false", True),
    ("FALSE", True),
    (" no ", True),
    ("off", True),
    ("Off\n", True),
    ("1", False),
    ("true", False),
    ("yes", False),
    ("", False),
    ("   ", False),
    (None, False),
]


@pytest.mark.parametrize(("value", "off"), OPT_OUT)
def test_opt_out_env(value: Optional[str], off: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is not None:
        monkeypatch.setenv("ANONYMIZED_TELEMETRY", value)
    monkeypatch.setenv("ACME_TELEMETRY", "all")  # rule 1 wins over rule 2
    telemetry = Telemetry(app="acme", package="tests", opt_out_env=["ANONYMIZED_TELEMETRY"])
    queue = Queue(denied=telemetry.consent.environment_denies)

    queue.send("page_view", {"pages": 1})
    decision = telemetry.consent.decide()
    status = telemetry.status()

    assert telemetry.consent.environment_denies() is off
    assert len(queue.queued) == (0 if off else 1)
    if off:
        assert (decision.state, decision.source, decision.level) == (
            "denied",
            "ANONYMIZED_TELEMETRY",
            "off",
        )
        assert status.decided_by == "ANONYMIZED_TELEMETRY"
        assert str(status).startswith("Telemetry for acme: off (decided by ANONYMIZED_TELEMETRY)")
    else:
        assert (decision.state, decision.source, decision.level) == (
            "granted",
            "ACME_TELEMETRY",
            "all",
        )


def test_an_opt_out_variable_is_read_only_when_the_host_declares_it(monkeypatch) -> None:
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "false")
    monkeypatch.setenv("ACME_TELEMETRY", "1")
    telemetry = Telemetry(app="acme", package="tests")
    assert telemetry.consent.decide().source == "ACME_TELEMETRY"


def test_any_of_several_opt_out_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_TELEMETRY", "1")
    telemetry = Telemetry(app="acme", opt_out_env=("FIRST_OPT_OUT", "SECOND_OPT_OUT"))
    assert telemetry.consent.decide().state == "granted"
    monkeypatch.setenv("SECOND_OPT_OUT", "no")
    assert telemetry.consent.decide().source == "SECOND_OPT_OUT"  # read live
    monkeypatch.setenv("DO_NOT_TRACK", "1")
    assert telemetry.consent.decide().source == "DO_NOT_TRACK"  # the generic ones first


def test_an_unknown_opt_out_value_is_warned_about_once_and_ignored(monkeypatch, caplog) -> None:
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "disabled-by-token-s3cr3t")
    monkeypatch.setenv("ACME_TELEMETRY", "1")
    telemetry = Telemetry(app="acme", opt_out_env="ANONYMIZED_TELEMETRY")  # one name, a str
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        assert telemetry.consent.decide().state == "granted"
        assert not telemetry.consent.environment_denies()
    # The host's variable may hold anything: its value is never repeated.
    assert _warnings(caplog) == [
        "Ignoring the value of ANONYMIZED_TELEMETRY: only 0/false/no/off turn telemetry off."
    ]


def test_globally_disabled_reads_only_the_variables_it_is_given() -> None:
    environ = {"A": "off", "B": "0"}
    assert globally_disabled(environ) is None
    assert globally_disabled(environ, ("B", "A")) == "B"
    assert globally_disabled({"DO_NOT_TRACK": "yes", "A": "0"}, ("A",)) == "DO_NOT_TRACK"


@pytest.mark.parametrize(
    ("value", "kept", "warning"),
    [
        (None, (), None),
        ("ANONYMIZED_TELEMETRY", ("ANONYMIZED_TELEMETRY",), None),
        (["A", " B ", "A"], ("A", "B"), None),
        (
            3,
            (),
            "Telemetry(opt_out_env=...) must be a variable name or a list of them, got a"
            " value of type int; it is ignored.",
        ),
        (
            ["A", 3],
            (),
            "Telemetry(opt_out_env=...) must be a variable name or a list of them,"
            " got a value of type list; it is ignored.",
        ),
        (b"A", (), "got a value of type bytes; it is ignored."),
        (
            ["A", "", "B=C", "D E", "x\x1b"],
            ("A",),
            "Telemetry(opt_out_env=...) holds a name"
            " that cannot be a variable's (empty, or with '=', a space or a control character);"
            " that name is left out.",
        ),
    ],
)
def test_opt_out_env_is_checked(value: Any, kept: tuple[str, ...], warning, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        telemetry = Telemetry(app="acme", opt_out_env=value)
    assert telemetry.settings.opt_out_env == kept
    warnings = _warnings(caplog)
    if warning is None:
        assert warnings == []
    else:
        [shown] = warnings
        assert shown.endswith(warning) or shown == warning, shown


# -- the PostHog settings -----------------------------------------------------------------------

KEY = "phc_baked0in0key0000000000000000000000000"
USER_KEY = "phc_users0own0key00000000000000000000000"


@pytest.mark.parametrize(
    ("arguments", "variables", "expected"),
    [
        pytest.param({}, {}, (None, None, "https://us.i.posthog.com"), id="nothing"),
        pytest.param(
            {"posthog_key": KEY},
            {},
            (KEY, "baked in", "https://us.i.posthog.com"),
            id="baked-in key, default host",
        ),
        pytest.param(
            {"posthog_key": KEY, "posthog_host": "https://eu.i.posthog.com"},
            {},
            (KEY, "baked in", "https://eu.i.posthog.com"),
            id="baked in",
        ),
        pytest.param(
            {"posthog_key": KEY, "posthog_host": "https://eu.i.posthog.com"},
            {"ACME_POSTHOG_KEY": f" {USER_KEY} ", "ACME_POSTHOG_HOST": "http://127.0.0.1:8000"},
            (USER_KEY, "ACME_POSTHOG_KEY", "http://127.0.0.1:8000"),
            id="variables win",
        ),
        pytest.param(
            {"posthog_key": KEY},
            {"ACME_POSTHOG_HOST": "https://ph.example.org"},
            (KEY, "baked in", "https://ph.example.org"),
            id="each variable on its own",
        ),
        pytest.param(
            {"posthog_key": KEY},
            {"ACME_POSTHOG_KEY": "  ", "ACME_POSTHOG_HOST": ""},
            (KEY, "baked in", "https://us.i.posthog.com"),
            id="blank variables are unset",
        ),
        pytest.param(
            {"posthog_key": KEY, "posthog_host": "eu.i.posthog.com"},
            {},
            (KEY, "baked in", None),
            id="argument host not a URL: fails closed",
        ),
        pytest.param(
            {"posthog_key": KEY, "posthog_host": "https://eu.i.posthog.com"},
            {"ACME_POSTHOG_HOST": "ftp://ph.example.org"},
            (KEY, "baked in", None),
            id="variable host not a URL: fails closed",
        ),
        pytest.param(
            {"posthog_key": 3, "posthog_host": 4},
            {},
            (None, None, "https://us.i.posthog.com"),
            id="arguments of another type",
        ),
    ],
)
def test_posthog_settings(
    arguments: dict[str, Any],
    variables: dict[str, str],
    expected: tuple[Any, ...],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    settings = Settings("acme", **arguments)

    assert settings.posthog() == expected
    key, source, host = expected
    context = settings.exporter_context()
    usable = host is not None
    assert (context.posthog_key, context.posthog_key_source, context.posthog_host) == (
        key if usable else None,
        source if usable else None,
        host,
    )
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "posthog")
    assert settings.exporters_in_use() == (("posthog",) if key and usable else ())


def test_a_bad_posthog_host_is_warned_about_without_its_value(caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        Settings("acme", posthog_host="ph.example.org/secret-path", posthog_key=KEY)
    [warning] = _warnings(caplog)
    assert warning.startswith("Telemetry(posthog_host=...) must be an http:// or https:// URL")
    assert "secret-path" not in warning
    assert "the 'posthog' exporter sends nothing" in warning


def test_a_bad_posthog_host_variable_is_warned_about_once_without_its_value(
    monkeypatch: pytest.MonkeyPatch, caplog
) -> None:
    monkeypatch.setenv("ACME_POSTHOG_HOST", "ph.example.org/u:secret-pw")
    settings = Settings("acme", posthog_key=KEY)
    with caplog.at_level(logging.WARNING, logger="otel_telemetry"):
        assert settings.posthog() == (KEY, "baked in", None)
        assert settings.posthog() == (KEY, "baked in", None)
    assert _warnings(caplog) == [
        "Ignoring ACME_POSTHOG_HOST: it is not an http:// or https:// URL with a host; the"
        " 'posthog' exporter sends nothing and the 'file' exporter keeps the reports."
    ]


def test_the_posthog_key_is_never_written_to_disk(clean: Path, monkeypatch) -> None:
    monkeypatch.setenv("ACME_POSTHOG_KEY", USER_KEY)
    telemetry = Telemetry(app="acme", posthog_key=KEY, exporters="posthog")
    telemetry.enable(usage=True)
    telemetry.disable()
    telemetry.enable(usage=True)
    for path in clean.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert KEY not in text, path
            assert USER_KEY not in text, path


@pytest.mark.parametrize(
    ("arguments", "variables", "line", "destination"),
    [
        pytest.param(
            {"posthog_key": KEY},
            {},
            "  posthog:   key baked in, host https://us.i.posthog.com",
            "posthog to https://us.i.posthog.com",
            id="baked in",
        ),
        pytest.param(
            {"posthog_key": KEY, "posthog_host": "https://u:pw@eu.i.posthog.com:8443/p?q=1"},
            {"ACME_POSTHOG_KEY": USER_KEY},
            "  posthog:   key from ACME_POSTHOG_KEY, host https://eu.i.posthog.com:8443",
            "posthog to https://eu.i.posthog.com:8443",
            id="from the variable, host without user info or path",
        ),
        pytest.param(
            {},
            {},
            "  posthog:   nothing sent, no key is set; kept in the local file",
            "file (posthog has no key)",
            id="no key",
        ),
        pytest.param(
            {"posthog_key": KEY},
            {"ACME_POSTHOG_HOST": "not a url"},
            "  posthog:   nothing sent, the host given is not an http(s) URL; kept in the local"
            " file",
            "file (posthog has no valid host)",
            id="bad host",
        ),
    ],
)
def test_posthog_in_status_and_destinations(
    arguments: dict[str, Any],
    variables: dict[str, str],
    line: str,
    destination: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.metadata

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ACME_TELEMETRY", "all")
    real_version = importlib.metadata.version
    # Whether the extra is installed here (not on 3.9) or not, what it changes is tested apart.
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "7.91.1" if name == "posthog" else real_version(name),
    )
    telemetry = Telemetry(app="acme", exporters=["posthog"], **arguments)

    status = telemetry.status()
    text = str(status)

    assert line in text.splitlines()
    assert telemetry.settings.destinations() == (destination,)
    for secret in (KEY, USER_KEY, "pw@", "q=1"):
        assert secret not in text
        assert secret not in json.dumps(dataclasses.asdict(status), default=str)


def test_without_the_posthog_package_the_file_keeps_the_reports(monkeypatch) -> None:
    import importlib.metadata

    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name == "posthog":
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    monkeypatch.setattr(importlib.metadata, "version", version)
    settings = Settings("acme", posthog_key=KEY, exporters="posthog")
    assert settings.destinations() == ("file (the posthog package is not installed)",)


def test_a_posthog_package_too_old_is_named_where_the_report_goes(monkeypatch) -> None:
    import importlib.metadata

    real_version = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "7.3.1" if name == "posthog" else real_version(name),
    )
    settings = Settings("acme", posthog_key=KEY, exporters="posthog")
    assert settings.destinations() == ("file (posthog 7.3.1 is older than 7.4)",)


def test_no_posthog_line_without_the_posthog_exporter(monkeypatch) -> None:
    monkeypatch.setenv("ACME_TELEMETRY", "1")
    status = Telemetry(app="acme", posthog_key=KEY).status()
    assert (status.posthog_key_source, status.posthog_host) == (None, None)
    assert not [line for line in str(status).splitlines() if line.startswith("  posthog:")]


def test_a_status_built_by_hand_escapes_the_posthog_line() -> None:
    status = TelemetryStatus(
        app="acme",
        enabled=True,
        decided_by="config",
        mode="server",
        exporters=("posthog",),
        config_file=Path("config.json"),
        email=None,
        sentry_dsn_source=None,
        posthog_key_source="ACME_POSTHOG_KEY",
        posthog_host="https://ph.example\x1b[2J",
    )
    assert (
        "  posthog:   key from ACME_POSTHOG_KEY, host https://ph.example\\x1b[2J"
        in str(status).splitlines()
    )


# -- red team (issue 18) -----------------------------------------------------------------------


def test_a_refused_huge_list_is_not_copied_first() -> None:
    import tracemalloc

    from otel_telemetry.capture._events import Refused, _sequence

    huge = list(range(1_000_000))
    tracemalloc.start()
    with pytest.raises(Refused, match="more than 64 items"):
        _sequence("pages", huge)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * 1024  # a copy of the list would be 8 MB


def test_a_property_put_over_a_field_is_neither_run_nor_believed() -> None:
    from otel_telemetry.capture._events import _field

    ran = []

    @dataclass(frozen=True)
    class Sneaky(TelemetryEvent):
        name: ClassVar[str] = "sneaky"
        pages: int

    event = Sneaky(pages=1)

    def pages(self: object) -> int:
        ran.append(True)
        return 42

    Sneaky.pages = property(pages)  # type: ignore[assignment]  # after the dataclass was made
    assert _field(event, "pages") == 1
    assert ran == []
