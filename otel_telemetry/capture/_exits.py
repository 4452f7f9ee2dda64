"""Failing exits: the crash a CLI turned into ``Error: …`` and a non-zero exit status.

A command line catches an unexpected exception, prints it and exits: ``sys.exit(1)``,
``raise click.ClickException(str(e))``, ``raise typer.Exit(1)``, ``parser.error(...)``,
all from the ``except`` block. The exit is raised while the original is handled, so
the original is the exit's ``__context__`` (or its ``__cause__``): that original is the
crash, and what is reported. An exit raised on purpose with nothing behind it (a usage
error, ``raise SystemExit(2)``) is not a crash, and neither is one behind which the user
typed something wrong (``click.UsageError``, argparse's ``ArgumentError``) or ended the
input (``KeyboardInterrupt``, ``EOFError``: click turns both into ``Abort``).

Pure and cheap: nothing is imported, click, typer and argparse least of all (their
classes are recognised by the module and qualified name of each class of the
exception's MRO), and no code of the host runs: every attribute is read through the
descriptors of the built-in classes, and an exit code behind a property is never
evaluated.
"""

from __future__ import annotations

from ._builtins import (
    ARGS,
    CAUSE,
    CONTEXT,
    INSTANCE_DICT,
    TRACEBACK,
    TYPE_DICT,
    TYPE_MODULE,
    TYPE_MRO,
    TYPE_QUALNAME,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

MAX_DEPTH = 16
"""Exceptions followed behind an exit before giving up (a chain of exits re-raised)."""

# The kinds of exception met on the way from an exit to the crash behind it.
_SYSTEM_EXIT = "system_exit"  # SystemExit: `code`
_EXIT = "exit"  # click's and typer's Exit: `exit_code`, 0 by default
_ABORT = "abort"  # click's and typer's Abort: always exit status 1
_CLICK = "click"  # ClickException and typer's own: `exit_code`, 1 by default
_USAGE = "usage"  # the user typed something wrong: never a crash
_INPUT_ENDED = "input_ended"  # Ctrl-C or end of input: the user stopped, never a crash

_KINDS = {
    ("click.exceptions", "Exit"): _EXIT,
    ("typer.exceptions", "Exit"): _EXIT,  # typer >= 0.16 has its own (older: click's)
    ("click.exceptions", "Abort"): _ABORT,
    ("typer.exceptions", "Abort"): _ABORT,
    ("click.exceptions", "UsageError"): _USAGE,  # BadParameter, NoSuchOption...
    ("typer._click.exceptions", "UsageError"): _USAGE,  # the click typer vendors
    ("argparse", "ArgumentError"): _USAGE,
    ("argparse", "ArgumentTypeError"): _USAGE,  # a `type=` function's own refusal
    ("click.exceptions", "ClickException"): _CLICK,
    ("typer._click.exceptions", "ClickException"): _CLICK,
    ("typer.exceptions", "TyperException"): _CLICK,
}
_EXIT_KINDS = (_SYSTEM_EXIT, _EXIT, _ABORT, _CLICK, _USAGE)

# Read through the built-in classes' own descriptors: a host's class may shadow them.
_SYSTEM_EXIT_CODE = vars(SystemExit)["code"].__get__
_MEMBER_DESCRIPTOR = type(vars(SystemExit)["code"])  # a slot's descriptor (__slots__)
_INT_EQ = int.__eq__
_UNKNOWN = object()


def is_exit(exc: BaseException) -> bool:
    """True when ``exc`` ends a command line rather than reports a crash.

    ``SystemExit``, click's and typer's ``Exit``, ``Abort`` and ``ClickException``
    (usage errors included), and argparse's usage errors: whatever their code, they are
    never reported themselves; only the crash behind a failing one is
    (:func:`crash_behind_exit`).
    """
    return _kind(type(exc)) in _EXIT_KINDS


def crash_behind_exit(exc: BaseException) -> Optional[BaseException]:
    """The exception a failing exit stands for, or None.

    Args:
        exc: an exception for which :func:`is_exit` is True.

    Returns:
        The original exception, when ``exc`` is a failing exit (a ``SystemExit`` whose
        code is not None or 0, a str code included; an ``Exit`` whose code is not 0; a
        ``ClickException``; an ``Abort``) raised while handling it: found through
        ``__cause__``, else ``__context__`` (also when the context is suppressed by
        ``raise ... from None``), past further exits (``SystemExit`` raised while handling
        a ``ClickException`` raised while handling the original), at most
        ``MAX_DEPTH`` exceptions deep. None when the exit succeeds, when nothing is behind
        it, when the chain meets a usage error or loops, or when the original is
        ``KeyboardInterrupt`` or ``EOFError``.
    """
    kind = _kind(type(exc))
    if kind not in _EXIT_KINDS or kind is _USAGE or not _fails(exc, kind):
        return None
    if kind is _ABORT and CAUSE(exc) is None and _raised_by_a_prompt(exc):
        # The user said no to ``confirm(abort=True)``, even inside the host's ``except``
        # block; ``ctx.abort()`` and ``raise click.Abort()`` are the host's own.
        return None
    seen = {id(exc)}
    current = exc
    for _ in range(MAX_DEPTH):
        cause = CAUSE(current)
        behind: Optional[BaseException] = cause if cause is not None else CONTEXT(current)
        if behind is None or id(behind) in seen:
            return None
        seen.add(id(behind))
        kind = _kind(type(behind))
        if kind is _USAGE or (kind is _INPUT_ENDED and _input_ended(behind)):
            return None
        if kind is _INPUT_ENDED:
            return behind  # an EOFError of the host's own reading (a truncated file)
        if kind is None:
            return behind
        current = behind  # another exit on the way (SystemExit <- ClickException): past it
    return None


def _raised_by_a_prompt(exc: BaseException) -> bool:
    """``exc`` was raised by click's prompts (``confirm``, ``prompt``), as typer bundles them."""
    try:
        tb = TRACEBACK(exc)
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        if tb is None:
            return False
        module = tb.tb_frame.f_globals.get("__name__")
        return module in _PROMPT_MODULES
    except Exception:
        return False


_PROMPT_MODULES = ("click.termui", "typer._click.termui")
# What ``input()`` raises at the end of its input; an EOFError of the host's own reading
# (``pickle.load`` of a truncated file: "Ran out of input") is a crash.
_END_OF_INPUT = ("EOF when reading a line",)


def _input_ended(exc: BaseException) -> bool:
    """Ctrl-C, or the end of what the user typed (``input()``, a prompt): no crash."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    try:
        return ARGS(exc) in ((), _END_OF_INPUT) or _raised_by_a_prompt(exc)
    except Exception:
        return True


def _kind(cls: type) -> Optional[str]:
    """The kind of the first class of ``cls``'s MRO that has one, or None."""
    try:
        mro = TYPE_MRO(cls)
    except Exception:  # pragma: no cover - every class has an MRO
        return None
    for klass in mro:
        if klass is SystemExit:
            return _SYSTEM_EXIT
        if klass is KeyboardInterrupt or klass is EOFError:
            return _INPUT_ENDED
        if klass is BaseException or klass is object:
            return None
        try:
            kind = _KINDS.get((TYPE_MODULE(klass), TYPE_QUALNAME(klass)))
        except Exception:  # a name that is not a str (cannot be hashed): not ours to know
            kind = None
        if kind is not None:
            return kind
    return None


def _fails(exc: BaseException, kind: str) -> bool:
    """True when the exit ends the process with a failing status."""
    if kind is _ABORT:
        return True
    if kind is _SYSTEM_EXIT:
        code = _SYSTEM_EXIT_CODE(exc)
    else:
        code = _attribute(exc, "exit_code")
        if code is _UNKNOWN:  # behind a property of the host's: not run; an error's own
            return kind is _CLICK  # a ClickException fails, an Exit is a success by default
    return _failing_code(code)


def _failing_code(code: object) -> bool:
    """As Python reads an exit code: None and 0 succeed; any other value, a str too, fails."""
    if code is None:
        return False
    if int in TYPE_MRO(type(code)):  # bool, int subclasses: the value, not a host's __eq__
        return _INT_EQ(code, 0) is not True  # type: ignore[arg-type]
    return True


def _attribute(exc: BaseException, name: str) -> object:
    """``exc.<name>`` as Python would find it, without running any code of the host.

    A slot (``__slots__``: click's ``Exit``) is read through its member descriptor, a
    plain class attribute or instance value as it is; any other descriptor (a property)
    is not run: ``_UNKNOWN``.
    """
    try:
        found: object = _UNKNOWN
        for klass in TYPE_MRO(type(exc)):
            namespace = TYPE_DICT(klass)
            if name in namespace:
                found = namespace[name]
                break
        if type(found) is _MEMBER_DESCRIPTOR:
            return found.__get__(exc)  # type: ignore[attr-defined]
        if found is not _UNKNOWN and any("__get__" in TYPE_DICT(k) for k in TYPE_MRO(type(found))):
            return _UNKNOWN  # a property or another descriptor of the host's: not run
        instance = INSTANCE_DICT(exc)
        if name in instance:
            return instance[name]
        return found
    except Exception:  # an unset slot, a namespace that is not a dict: not known
        return _UNKNOWN
