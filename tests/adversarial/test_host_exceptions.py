"""Promise attacked: "no exception escapes into host code", with pathological exceptions.

The host's exception is only read: the same object, type and traceback propagate, its
``vars()`` are unchanged, none of its code (``__str__``) runs on the host's thread, and
the report still arrives (scrubbed, sendable, bounded) at the file exporter.
"""

from __future__ import annotations

import json

import pytest

from otel_telemetry.exporters._file import read_reports
from tests.conftest import otlp_env, run_python
from tests.payloads import attributes

pytestmark = pytest.mark.integration

_HOST = """
import json, sys, threading, time
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()
seen = {}
"""


def _events(config_dir):
    """The exception events of every report on disk: ``(type, message)`` each."""
    found = []
    for document in read_reports(config_dir / "telemetry" / "reports"):
        for span in document["resourceSpans"][0]["scopeSpans"][0]["spans"]:
            for event in span.get("events", []):
                attributes = {a["key"]: a["value"].get("stringValue") for a in event["attributes"]}
                if "exception.type" in attributes:
                    found.append((attributes["exception.type"], attributes["exception.message"]))
    return found


def _run(code, host_env):
    host_env["ACME_TELEMETRY"] = "1"
    result = run_python(_HOST + code + "\nt.flush(30)\nprint(json.dumps(seen))\n", host_env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_vars_of_a_reported_exception_are_unchanged(host_env, config_dir):
    seen = _run(
        """
class HostError(Exception):
    pass
exc = HostError("x")
exc.code = 3
before = dict(vars(exc))
try:
    raise exc
except HostError as caught:
    t.capture_exception(caught)
seen["vars_unchanged"] = vars(exc) == before
seen["json"] = json.dumps(vars(exc))
""",
        host_env,
    )
    assert seen == {"vars_unchanged": True, "json": '{"code": 3}'}
    assert len(_events(config_dir)) == 1


def test_a_blocking_str_never_blocks_the_host(host_env, config_dir):
    seen = _run(
        """
class Blocking(ValueError):
    def __str__(self):
        time.sleep(3600)
        return "never"

@t.capture_errors
def work():
    raise Blocking("the arguments")

started = time.monotonic()
try:
    work()
except Blocking as exc:
    seen["same"] = type(exc).__name__
seen["fast"] = time.monotonic() - started < 5
""",
        host_env,
    )
    assert seen == {"same": "Blocking", "fast": True}
    [(_type_name, message)] = _events(config_dir)
    assert message == "the arguments"


def test_str_raising_keyboard_interrupt_does_not_escape(host_env, config_dir):
    seen = _run(
        """
class Nasty(ValueError):
    def __str__(self):
        raise KeyboardInterrupt

@t.capture_errors
def work():
    raise Nasty("boom")

try:
    work()
except BaseException as exc:
    seen["host_saw"] = type(exc).__name__
""",
        host_env,
    )
    assert seen == {"host_saw": "Nasty"}
    assert len(_events(config_dir)) == 1


def test_a_lone_surrogate_in_a_message_is_reported(host_env, otlp_http):
    host_env.update(otlp_env({}, otlp_http))
    _run(
        """
name = b"report-\\xff.txt".decode("utf-8", "surrogateescape")  # as os.listdir gives it
try:
    raise ValueError(f"cannot read {name}")
except ValueError as exc:
    t.capture_exception(exc)
""",
        host_env,
    )
    [span] = otlp_http.wait_for_spans(1)
    [event] = [e for e in span["events"] if e["name"] == "exception"]
    event_attributes = attributes(event["attributes"])
    assert event_attributes["exception.type"] == "ValueError"
    assert "report-\\udcff.txt" in event_attributes["exception.message"]


def test_near_the_recursion_limit_the_host_keeps_its_exception(host_env, config_dir):
    seen = _run(
        """
ran = []

@t.capture_errors
def leaf():
    error = ValueError("deep")  # creating it may itself hit the limit: the host's own
    ran.append(1)
    raise error

def descend(n):
    if n == 0:
        del ran[:]
        try:
            leaf()
        except BaseException as exc:
            # Only what the host raised counts: a RecursionError on the way into leaf()
            # (the decorator is one frame deeper) is the host's own recursion.
            return type(exc).__name__ if ran else "host-recursion"
        return "nothing"
    return descend(n - 1)

results = set()
limit = sys.getrecursionlimit()
for depth in range(limit - 60, limit):
    try:
        results.add(descend(depth))
    except RecursionError:
        pass  # too deep for the host itself, before leaf() ran
seen["host_saw"] = sorted(results - {"host-recursion"})
""",
        host_env,
    )
    assert seen == {"host_saw": ["ValueError"]}


def test_a_huge_message_is_cut_at_capture(host_env, config_dir):
    seen = _run(
        """
import tracemalloc

message = "x" * (20 * 1024 * 1024)
try:
    raise ValueError(message)
except ValueError as exc:
    # Not a timer (a loaded machine makes any one slow): what the capture allocates on
    # the host's thread says whether it copied or scanned the 20 MiB. A small capture
    # first, so that the modules a first capture imports are not counted.
    try:
        raise KeyError("warm")
    except KeyError as small:
        t.capture_exception(small)
    tracemalloc.start()
    t.capture_exception(exc)
    seen["peak_below_1_mib"] = tracemalloc.get_traced_memory()[1] < 1024 * 1024
    tracemalloc.stop()
""",
        host_env,
    )
    assert seen == {"peak_below_1_mib": True}
    [message] = [message for kind, message in _events(config_dir) if kind == "ValueError"]
    # Cut on the host's thread (64 KiB), then by the report's bound after scrubbing.
    assert 30_000 <= len(message) < 33_000
    assert "cut" in message


def test_a_secret_the_cut_runs_through_is_not_sent_in_part(host_env, config_dir):
    seen = _run(
        """
from otel_telemetry.capture._snapshot import CUT_MARGIN, MAX_MESSAGE
secrets = "AKIAIOSFODNN7EXAMPLE alice.secret@private.example.com 4111 1111 1111 1111 "
filler = "word " * ((MAX_MESSAGE - CUT_MARGIN // 2) // 5)
try:
    raise ValueError(filler + secrets * 100)
except ValueError as exc:
    t.capture_exception(exc)
seen["ok"] = True
""",
        host_env,
    )
    assert seen == {"ok": True}
    [(_, message)] = _events(config_dir)
    for fragment in ("AKIA", "alice.secret", "private.example", "4111"):
        assert fragment not in message


def test_the_users_own_exception_class_is_not_named(host_env, config_dir, tmp_path):
    module = tmp_path / "user_code" / "alice_clinic_patients.py"
    module.parent.mkdir()
    module.write_text("class PatientRecordMissing(KeyError):\n    pass\n", encoding="utf-8")
    host_env["PYTHONPATH"] = str(module.parent)
    _run(
        """
import alice_clinic_patients

@t.capture_errors
def lookup():
    raise alice_clinic_patients.PatientRecordMissing("id")

try:
    lookup()
except KeyError:
    pass
""",
        host_env,
    )
    [(type_name, _)] = _events(config_dir)
    assert type_name == "<user exception>"
    raw = "".join(p.read_text() for p in (config_dir / "telemetry" / "reports").glob("*"))
    assert "alice" not in raw
    assert "PatientRecordMissing" not in raw


# The table of reported exceptions lets go of an earlier one inside the next report:
# what its traceback kept alive is freed there, on the host's thread, so a failing
# `__del__` (sys.unraisablehook) or a task nobody awaited (asyncio's "never retrieved")
# reports from inside our report. Before: a hang on the table's lock; then dropped.
_FREED_INSIDE = """
import asyncio, sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.install()
class Resource:
    def __del__(self):
        raise ValueError("failing __del__")
async def failing():
    raise ValueError("task never retrieved")
def work():
    if sys.argv[1] == "__del__":
        kept = Resource()
    else:
        loop = asyncio.new_event_loop()
        task = loop.create_task(failing())
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
    raise ValueError("first")
try:
    work()
except ValueError as exc:
    t.capture_exception(exc)
try:
    raise ValueError("second")
except ValueError as exc:
    t.capture_exception(exc)
print(t.flush(10))
"""


@pytest.mark.parametrize(
    ("what", "message"), [("__del__", "failing __del__"), ("task", "task never retrieved")]
)
def test_what_a_report_frees_is_reported_after_it(host_env, otlp_http, what, message):
    result = run_python(_FREED_INSIDE, otlp_env(host_env, otlp_http, ACME_TELEMETRY="1"), what)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True"]
    spans = otlp_http.wait_for_spans(3)
    messages = sorted(attributes(s["events"][0]["attributes"])["exception.message"] for s in spans)
    assert messages == sorted(["first", "second", message])
