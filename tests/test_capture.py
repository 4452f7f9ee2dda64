"""Capture on the app thread and the report built from it (unit tests of one function each)."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest

from otel_telemetry import Telemetry
from otel_telemetry.capture._snapshot import MAX_FRAMES, capture_exception, is_crash, passes_through
from otel_telemetry.pipeline._spans import exception_attributes, relative_filename


def _raise_chain() -> None:
    try:
        {}["missing"]
    except KeyError as exc:
        raise ValueError("while looking up") from exc


def test_chain_is_kept_root_cause_first_with_relations():
    try:
        try:
            _raise_chain()
        except ValueError:
            raise RuntimeError("handling failed")  # noqa: B904 - implicit context on purpose
    except RuntimeError as exc:
        captured = capture_exception(exc, "capture_exception", handled=True)

    assert [(e.qualname, e.relation) for e in captured.exceptions] == [
        ("KeyError", "cause"),
        ("ValueError", "context"),
        ("RuntimeError", ""),
    ]
    assert captured.exceptions[0].message == "'missing'"
    span, event, status = exception_attributes(captured, packages=("tests",))
    assert span == {
        "otel_telemetry.kind": "exception",
        "otel_telemetry.mechanism": "capture_exception",
        "otel_telemetry.handled": True,
    }
    assert status == "RuntimeError: handling failed"
    assert event["exception.type"] == "RuntimeError"
    assert event["exception.message"] == "handling failed"
    stack = event["exception.stacktrace"]
    assert "The above exception was the direct cause of the following exception:" in stack
    assert "During handling of the above exception, another exception occurred:" in stack
    assert 'File "tests/test_capture.py", line' in stack
    chain = json.loads(event["otel_telemetry.exception.chain"])
    assert [c["type"] for c in chain] == ["KeyError", "ValueError", "RuntimeError"]
    frame = chain[1]["frames"][-1]
    assert frame == {
        "filename": "tests/test_capture.py",
        "function": "_raise_chain",
        "lineno": frame["lineno"],
        "module": "tests.test_capture",
        "in_app": True,
    }


def test_no_locals_or_source_lines_are_captured():
    secret_local = "hunter2-local-value"  # noqa: F841 - must not appear anywhere

    try:
        raise OSError("plain")
    except OSError as exc:
        captured = capture_exception(exc, "capture_exception", handled=True)
    _, event, _ = exception_attributes(captured, packages=("tests",))
    text = json.dumps(event)
    assert "hunter2" not in text
    assert "raise OSError" not in text  # the source line


def test_long_tracebacks_keep_both_ends():
    def recurse(n: int) -> None:
        if n == 0:
            raise RecursionError("deep")
        recurse(n - 1)

    try:
        recurse(MAX_FRAMES + 50)
    except RecursionError as exc:
        captured = capture_exception(exc, "capture_exception", handled=True)
    [entry] = captured.exceptions
    assert len(entry.frames) == MAX_FRAMES
    # this test's frame + recurse(150) ... recurse(0): 152 frames, 100 kept
    assert entry.omitted_frames == 52
    assert entry.frames[0][2] == "test_long_tracebacks_keep_both_ends"
    assert entry.frames[-1][2].endswith("recurse")
    _, event, _ = exception_attributes(captured, packages=("tests",))
    assert "[... 52 frames omitted ...]" in event["exception.stacktrace"]


def test_cycles_in_the_chain_terminate():
    a, b = ValueError("a"), ValueError("b")
    a.__context__, b.__context__ = b, a
    captured = capture_exception(a, "capture_exception", handled=True)
    assert [e.message for e in captured.exceptions] == ["b", "a"]


@pytest.mark.parametrize(
    ("exc", "crash"),
    [
        (KeyboardInterrupt(), False),
        (SystemExit(1), False),
        (GeneratorExit(), False),
        (asyncio.CancelledError(), False),
        (ValueError(), True),
    ],
)
def test_what_counts_as_a_crash(exc, crash):
    assert is_crash(exc) is crash


def test_only_tracebacks_through_the_package_pass():
    try:
        _raise_chain()
    except ValueError as exc:
        captured = capture_exception(exc, "x", handled=False)
    assert passes_through(captured, ("tests",))
    assert passes_through(captured, ("tests.test_capture",))
    assert not passes_through(captured, ("test",))  # a prefix of a name is not the package


def test_relative_filename():
    roots = ("/venv/lib/python3.11/site-packages/", "/venv/")
    assert relative_filename("/venv/lib/python3.11/site-packages/acme/x.py", roots) == "acme/x.py"
    assert relative_filename("/elsewhere/secret/dir/script.py", roots) == "script.py"
    assert (
        relative_filename("<frozen importlib._bootstrap>", roots) == "<frozen importlib._bootstrap>"
    )


class TestCaptureErrors:
    """``capture_errors`` re-raises the very exception, sync, async and as a block."""

    def _telemetry(self, tmp_path, monkeypatch):
        monkeypatch.setenv("ACME_CONFIG_DIR", str(tmp_path))
        monkeypatch.setenv("ACME_TELEMETRY", "0")  # capture path runs, nothing is built
        return Telemetry(app="acme", package="tests")

    def test_sync_async_and_block_reraise_unchanged(self, tmp_path, monkeypatch):
        telemetry = self._telemetry(tmp_path, monkeypatch)
        error = ValueError("x")

        @telemetry.capture_errors
        def sync() -> None:
            raise error

        @telemetry.capture_errors()
        async def coro() -> None:
            raise error

        with pytest.raises(ValueError, match=r"^x$") as caught:
            sync()
        assert caught.value is error
        with pytest.raises(ValueError, match=r"^x$") as caught:
            asyncio.run(coro())
        assert caught.value is error
        with pytest.raises(ValueError, match=r"^x$") as caught, telemetry.capture_errors():
            raise error
        assert caught.value is error
        assert sync.__name__ == "sync"
        assert asyncio.iscoroutinefunction(coro)

    def test_return_values_pass_through(self, tmp_path, monkeypatch):
        telemetry = self._telemetry(tmp_path, monkeypatch)

        @telemetry.capture_errors
        def add(a: int, b: int = 1) -> int:
            return a + b

        assert add(1, b=2) == 3


def test_exactly_once_across_nested_entry_points(tmp_path, monkeypatch):
    monkeypatch.setenv("ACME_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("ACME_TELEMETRY", "1")
    monkeypatch.setenv("ACME_TELEMETRY_EXPORTER", "file")
    # Another Telemetry (an imported host's) may own the hook already: this one leaves it.
    hook_before = sys.excepthook
    telemetry = Telemetry(app="acme", package="tests")

    @telemetry.capture_errors
    def inner() -> None:
        raise LookupError("once")

    @telemetry.capture_errors
    def outer() -> None:
        inner()

    with pytest.raises(LookupError) as caught:
        outer()
    telemetry.capture_exception(caught.value)
    assert telemetry.flush(30)
    telemetry.shutdown()
    from otel_telemetry.exporters._file import read_reports

    assert len(read_reports(tmp_path / "telemetry" / "reports")) == 1
    assert sys.excepthook is hook_before
