"""The plain value classes that replaced dataclasses on the host's thread.

Captures (``capture/_snapshot.py``) and consent decisions (``consent/_precedence.py``)
are made on the host's thread at its first crash, so they import nothing: slots classes
that are read-only and compared, hashed and shown by value, as the dataclasses were.
The saved choice is read there too, by the C scanner ``json`` uses, with json's values
and json's refusals.
"""

from __future__ import annotations

import json
import math
import re

import pytest

from otel_telemetry.capture._snapshot import CapturedEvent, CapturedException, RawException
from otel_telemetry.consent._precedence import (
    ConsentDecision,
    ConsentInputs,
    SavedChoice,
    SessionChoice,
    decide,
)
from otel_telemetry.consent._store import _loads


def _raw(message: str = "boom") -> RawException:
    return RawException("builtins", "ValueError", message, (("a.py", 1, "f", "acme.a"),))


def test_a_capture_is_read_only_and_compared_by_value():
    captured = CapturedException((_raw(),), "excepthook", False, time_ns=5, seq=1)
    same = CapturedException((_raw(),), "excepthook", False, time_ns=5, seq=1)

    assert captured == same
    assert captured != CapturedException((_raw("other"),), "excepthook", False, 5, seq=1)
    assert captured != CapturedEvent("page_view", {}, time_ns=5, seq=1)
    with pytest.raises(AttributeError):
        captured.handled = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del captured.exceptions  # type: ignore[misc]
    assert "mechanism='excepthook'" in repr(captured)


def test_defaults_of_a_capture():
    first = CapturedException((_raw(),), "excepthook", False)
    second = CapturedEvent("page_view", {"page": "home"})

    assert second.seq == first.seq + 1  # one count for every capture of the process
    assert first.attributes == {}
    assert first.time_ns > 0
    assert _raw().omitted_frames == 0
    assert _raw().relation == ""


def test_replaced_keeps_the_report_and_its_number():
    captured = CapturedException((_raw(),), "excepthook", False, attributes={"a": 1})

    counted = captured.replaced(attributes={"n": 3}, time_ns=7)

    assert (counted.attributes, counted.time_ns) == ({"n": 3}, 7)
    assert (counted.exceptions, counted.seq, counted.mechanism) == (
        captured.exceptions,
        captured.seq,
        captured.mechanism,
    )


def test_consent_values_compare_and_hash_by_value():
    decision = ConsentDecision("granted", "config", level="all")

    assert decision == ConsentDecision("granted", "config", None, "all")
    assert hash(decision) == hash(ConsentDecision("granted", "config", level="all"))
    assert decision != ConsentDecision("granted", "config")
    assert decision.usage
    assert not decision.local
    assert SavedChoice() == SavedChoice(None, None, None, 1)
    assert SessionChoice(True) != SessionChoice(False)
    with pytest.raises(AttributeError):
        decision.state = "denied"  # type: ignore[misc]
    assert decide(ConsentInputs("server")) == ConsentDecision("granted", "mode:server")


DOCUMENTS = [
    '{"telemetry": {"enabled": true, "level": "all", "policy_version": 2}}',
    ' \n{"telemetry": {"enabled": false, "email": "a@example.com"}, "host": [1, 2.5, null]}\t',
    '{"a": "\\u00e9\\ud83d\\ude00", "b": -0.0, "c": 1e400, "d": {"d": {}}}',
    '{"x": 1, "x": 2}',
    "[]",
    '"text"',
    "12",
]
REFUSED = [
    "",
    "  ",
    "{",
    '{"a": 1} x',
    "[1,]",
    "nul",
    '{"a": 01}',
    '"\x01"',
    "\ufeff{}",
    "{'a': 1}",
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_the_config_reader_reads_as_json_does(text):
    assert repr(_loads(text)) == repr(json.loads(text))


def test_the_config_reader_reads_json_constants():
    value = _loads("[NaN, Infinity, -Infinity]")
    assert math.isnan(value[0])
    assert value[1:] == [math.inf, -math.inf]


@pytest.mark.parametrize("text", REFUSED)
def test_the_config_reader_refuses_what_json_refuses(text):
    try:
        json.loads(text)
    except ValueError as exc:
        expected = str(exc)
    else:  # pragma: no cover - every text here is refused by json
        raise AssertionError(f"json reads {text!r}")
    with pytest.raises(ValueError, match=f"^{re.escape(expected)}$"):
        _loads(text)


def test_the_config_reader_refuses_too_deep_a_document():
    with pytest.raises(RecursionError):
        _loads("[" * 100_000)
