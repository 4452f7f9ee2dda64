"""Failing exits (``capture/_exits.py``): which exits stand for a crash, and which crash.

Each exit is raised the way real command lines raise it (from an ``except`` block, by
click's, typer's and argparse's own code), with the real classes of those libraries.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import pickle
import sys
from typing import Any, Callable, Optional

import click
import pytest
import typer

from otel_telemetry.capture import _exits
from otel_telemetry.capture._exits import MAX_DEPTH, crash_behind_exit, is_exit

try:  # typer >= 0.2x vendors click; older ones use click's own classes (above)
    import typer._click.exceptions as typer_click
except ImportError:  # pragma: no cover - the Python 3.9 matrix
    typer_click = None

TYPER_CLICK = (
    [
        pytest.param(lambda e: typer_click.ClickException("x"), "HostBug", id="typer click"),
        pytest.param(lambda e: typer_click.BadParameter("x"), None, id="typer click usage"),
    ]
    if typer_click is not None
    else []
)


class HostBug(Exception):
    """The original: an unexpected exception of the host's code."""


def _caught(raising: Callable[[], Any]) -> BaseException:
    try:
        raising()
    except BaseException as exc:
        return exc
    raise AssertionError("did not raise")  # pragma: no cover


def _while_handling(make_exit: Callable[[BaseException], BaseException], how: str = "context"):
    """``make_exit(original)`` raised in the ``except`` block of a HostBug."""

    def raising() -> None:
        try:
            raise HostBug("boom")
        except HostBug as original:
            if how == "cause":
                raise make_exit(original) from original
            if how == "from None":
                raise make_exit(original) from None
            raise make_exit(original)  # noqa: B904 - the shape of the hosts we meet

    return _caught(raising)


def _behind(exit_: BaseException) -> Optional[str]:
    """The type name of the crash behind ``exit_``, or None."""
    assert is_exit(exit_)
    original = crash_behind_exit(exit_)
    return None if original is None else type(original).__name__


@pytest.mark.parametrize(
    ("make_exit", "expected"),
    [
        pytest.param(lambda e: SystemExit(1), "HostBug", id="sys.exit(1)"),
        pytest.param(lambda e: SystemExit("Error: boom"), "HostBug", id="sys.exit(str)"),
        pytest.param(lambda e: SystemExit(True), "HostBug", id="sys.exit(True)"),
        pytest.param(lambda e: SystemExit(-1), "HostBug", id="sys.exit(-1)"),
        pytest.param(lambda e: SystemExit(0), None, id="sys.exit(0)"),
        pytest.param(lambda e: SystemExit(), None, id="sys.exit()"),
        pytest.param(lambda e: SystemExit(False), None, id="sys.exit(False)"),
        pytest.param(lambda e: click.ClickException(str(e)), "HostBug", id="ClickException"),
        pytest.param(lambda e: click.FileError("f"), "HostBug", id="FileError"),
        pytest.param(lambda e: click.Abort(), "HostBug", id="Abort"),
        pytest.param(lambda e: click.exceptions.Exit(1), "HostBug", id="click Exit(1)"),
        pytest.param(lambda e: click.exceptions.Exit(0), None, id="click Exit(0)"),
        pytest.param(lambda e: typer.Exit(code=1), "HostBug", id="typer.Exit(1)"),
        pytest.param(lambda e: typer.Exit(), None, id="typer.Exit()"),
        pytest.param(lambda e: typer.Abort(), "HostBug", id="typer.Abort"),
        *TYPER_CLICK,
        pytest.param(lambda e: click.UsageError(str(e)), None, id="UsageError"),
        pytest.param(lambda e: click.BadParameter(str(e)), None, id="BadParameter"),
        pytest.param(lambda e: typer.BadParameter(str(e)), None, id="typer.BadParameter"),
        pytest.param(lambda e: argparse.ArgumentTypeError("x"), None, id="ArgumentTypeError"),
    ],
)
@pytest.mark.parametrize("how", ["context", "cause", "from None"])
def test_the_crash_behind_an_exit_raised_while_handling_it(make_exit, expected, how) -> None:
    assert _behind(_while_handling(make_exit, how)) == expected


@pytest.mark.parametrize(
    "exit_",
    [
        pytest.param(SystemExit(2), id="raise SystemExit(2)"),
        pytest.param(SystemExit("usage: acme URL"), id="sys.exit(str)"),
        pytest.param(click.ClickException("no such page"), id="ClickException"),
        pytest.param(click.Abort(), id="Abort"),
        pytest.param(typer.Exit(1), id="typer.Exit(1)"),
    ],
)
def test_an_exit_with_nothing_behind_it_is_not_a_crash(exit_: BaseException) -> None:
    def raising() -> None:
        raise exit_

    assert _behind(_caught(raising)) is None


def test_exits_on_the_way_are_passed() -> None:
    """click < 8.2 exits while handling the ClickException raised while handling the bug."""

    def click_main() -> None:
        try:
            try:
                raise HostBug("boom")
            except HostBug as bug:
                raise click.ClickException(str(bug))  # noqa: B904
        except click.ClickException as e:
            sys.exit(e.exit_code)

    assert _behind(_caught(click_main)) == "HostBug"


def _interrupted(interruption: type[BaseException], convert: Callable[[], BaseException]):
    def raising() -> None:
        try:
            raise interruption()
        except interruption:
            raise convert() from None  # as click.prompt does

    return _caught(raising)


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, EOFError])
@pytest.mark.parametrize(
    "convert", [click.Abort, typer.Abort, lambda: typer.Exit(130), lambda: SystemExit(1)]
)
def test_the_user_ending_input_is_not_a_crash(interruption, convert) -> None:
    assert _behind(_interrupted(interruption, convert)) is None


def test_a_click_prompt_interrupted_by_ctrl_c_is_not_a_crash(monkeypatch) -> None:
    def ctrl_c(*args: Any, **kwargs: Any) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr("click.termui.visible_prompt_func", ctrl_c)
    abort = _caught(lambda: click.prompt("Name"))
    assert type(abort) is click.Abort
    assert _behind(abort) is None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acme")
    parser.add_argument("--pages", type=int)
    return parser


def test_argparse_refusing_a_bad_type_is_a_usage_error(capsys) -> None:
    exit_ = _caught(lambda: _parser().parse_args(["--pages", "many"]))
    assert isinstance(exit_, SystemExit)
    assert _behind(exit_) is None  # SystemExit(2) <- ArgumentError <- ValueError


def test_parser_error_while_handling_a_crash_is_one(capsys) -> None:
    parser = _parser()
    assert _behind(_while_handling(lambda e: _caught(lambda: parser.error(str(e))))) == "HostBug"


def test_an_argument_error_itself_is_an_exit_and_no_crash() -> None:
    error = _while_handling(lambda e: argparse.ArgumentError(None, str(e)))
    assert is_exit(error)
    assert crash_behind_exit(error) is None


@pytest.mark.parametrize(
    "exc",
    [ValueError("x"), HostBug(), KeyboardInterrupt(), EOFError(), RuntimeError(), Exception()],
)
def test_other_exceptions_are_not_exits(exc: BaseException) -> None:
    assert not is_exit(exc)
    assert crash_behind_exit(exc) is None


class _Calls:
    count = 0


class PropertyClickError(click.ClickException):
    """A host's ClickException whose exit code is a property that raises."""

    @property
    def exit_code(self) -> int:  # type: ignore[override]
        _Calls.count += 1
        raise RuntimeError("the host's property ran")


_EXIT_CODE_SLOT = vars(click.exceptions.Exit)["exit_code"]


class PropertyExit(click.exceptions.Exit):
    @property  # type: ignore[misc]
    def exit_code(self) -> int:  # type: ignore[override]
        _Calls.count += 1
        raise RuntimeError("the host's property ran")

    @exit_code.setter
    def exit_code(self, value: int) -> None:
        _EXIT_CODE_SLOT.__set__(self, value)


class PropertySystemExit(SystemExit):
    @property
    def code(self) -> Any:  # type: ignore[override]
        _Calls.count += 1
        raise RuntimeError("the host's property ran")


class SuccessfulClickError(click.ClickException):
    exit_code = 0


class InstanceCode(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code


class IntSubclass(int):
    def __eq__(self, other: object) -> bool:
        _Calls.count += 1
        raise RuntimeError("the host's __eq__ ran")

    __hash__ = int.__hash__


@pytest.mark.parametrize(
    ("make_exit", "expected"),
    [
        pytest.param(lambda e: PropertyClickError("x"), "HostBug", id="property: an error fails"),
        pytest.param(lambda e: PropertyExit(1), None, id="property: an Exit succeeds"),
        pytest.param(lambda e: PropertySystemExit(1), "HostBug", id="SystemExit's own slot"),
        pytest.param(lambda e: SuccessfulClickError("x"), None, id="class attribute 0"),
        pytest.param(lambda e: InstanceCode("x", 0), None, id="instance value 0"),
        pytest.param(lambda e: InstanceCode("x", 3), "HostBug", id="instance value 3"),
        pytest.param(lambda e: SystemExit(IntSubclass(0)), None, id="int subclass 0"),
        pytest.param(lambda e: SystemExit(IntSubclass(4)), "HostBug", id="int subclass 4"),
    ],
)
def test_exit_codes_are_read_without_running_the_hosts_code(make_exit, expected) -> None:
    _Calls.count = 0
    assert _behind(_while_handling(make_exit)) == expected
    assert _Calls.count == 0


def test_a_loop_of_exits_ends() -> None:
    first, second = SystemExit(1), click.ClickException("x")
    first.__context__, second.__context__ = second, first
    assert crash_behind_exit(first) is None


def test_the_chain_is_followed_only_so_deep() -> None:
    def chain(exits: int) -> BaseException:
        top: BaseException = HostBug()
        for _ in range(exits):
            exit_ = SystemExit(1)
            exit_.__context__ = top
            top = exit_
        return top

    assert _behind(chain(MAX_DEPTH)) == "HostBug"
    assert _behind(chain(MAX_DEPTH + 1)) is None


def test_classes_with_odd_names_are_no_exits() -> None:
    odd = type("Odd", (Exception,), {"__module__": ["not", "hashable"]})
    assert not is_exit(odd())
    behind = SystemExit(1)
    behind.__context__ = odd()
    assert crash_behind_exit(behind) is behind.__context__


def test_it_imports_nothing() -> None:
    """click, typer and argparse are recognised by name: never imported for a host."""
    tree = ast.parse(inspect.getsource(_exits))
    imported = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    # Only the built-in descriptors it reads attributes through.
    assert [getattr(node, "module", None) for node in imported] == ["__future__", "_builtins"]


def _raised_while_handling(original: BaseException, exit_: Callable[[], object]) -> BaseException:
    try:
        try:
            raise original
        except BaseException:
            exit_()
    except BaseException as caught:
        return caught
    raise AssertionError("no exit")


def test_ctx_abort_in_an_except_block_is_the_crash() -> None:
    """``ctx.abort()`` is raised in click's code, but it is the host's decision."""
    context = click.Context(click.Command("crawl"))
    original = KeyError("page")
    abort = _raised_while_handling(original, context.abort)
    assert isinstance(abort, click.Abort)
    assert _exits.crash_behind_exit(abort) is original


def test_no_to_a_confirm_in_an_except_block_is_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("click.termui.visible_prompt_func", lambda *args: "n")
    abort = _raised_while_handling(
        FileNotFoundError("cache.db"), lambda: click.confirm("Rebuild?", abort=True)
    )
    assert isinstance(abort, click.Abort)
    assert _exits.crash_behind_exit(abort) is None


def test_an_eof_error_of_the_hosts_own_reading_is_the_crash() -> None:
    try:
        pickle.loads(b"")
    except EOFError as caught:
        truncated = caught
    exit_ = _raised_while_handling(truncated, lambda: sys.exit(1))
    assert _exits.crash_behind_exit(exit_) is truncated


@pytest.mark.parametrize(
    "end", [EOFError("EOF when reading a line"), EOFError(), KeyboardInterrupt()]
)
def test_the_end_of_what_the_user_typed_is_not(end: BaseException) -> None:
    exit_ = _raised_while_handling(end, lambda: sys.exit(1))
    assert _exits.crash_behind_exit(exit_) is None
