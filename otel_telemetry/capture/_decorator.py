"""``@telemetry.capture_errors`` and ``with telemetry.capture_errors():``.

An exception leaving a decorated function or a block may still be handled by its
caller (a user's script catching the ``ValueError`` of an API), so it is reported only
when consent is already given, never asked about, never held (``ask=False``): if it
ends unhandled, a crash hook reports it then, and asks. A failing exit passing through
(``sys.exit(1)``, ``click.ClickException``... in a command wrapped by it) ends the
process: the crash behind it is reported, and may ask (``Reporter.report``).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, Callable, Optional, TypeVar

    from ._reporter import Reporter

    F = TypeVar("F", bound=Callable[..., Any])

_CO_COROUTINE = 0x80  # inspect.CO_COROUTINE, without importing inspect
_MECHANISM = "capture_errors"


class ErrorCapture:
    """Reports exceptions leaving a block or a function, then lets them propagate.

    Works on sync and async functions, on other callables, and as a sync or async
    context manager. (Wrapping a click ``Group`` as a console script's entry sees what
    escapes it, but not the crash behind a ``ClickException``: click exits after its
    ``except`` block, so decorate each command's callback.) What
    propagates is the host's own exception, unchanged: the report runs no code of the
    host (see ``_snapshot``), and an error of the report itself (even a RecursionError
    near the recursion limit) is dropped.
    """

    __slots__ = ("_reporter",)

    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def __enter__(self) -> ErrorCapture:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if exc is not None:
            try:
                self._reporter.report(exc, _MECHANISM, handled=True, ask=False)
            except Exception:  # RecursionError near the limit: the host's exception wins
                pass

    async def __aenter__(self) -> ErrorCapture:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __call__(self, func: F) -> F:
        import functools  # at decoration time, not at import time

        report = self._reporter.report
        if _is_coroutine_function(func):
            # asyncio is in use: start seeing its tasks' unretrieved exceptions too.
            self._reporter.watch_asyncio()

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await func(*args, **kwargs)
                except BaseException as exc:
                    try:
                        report(exc, _MECHANISM, handled=True, ask=False)
                    except Exception:  # RecursionError near the limit
                        pass
                    raise

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except BaseException as exc:
                try:
                    report(exc, _MECHANISM, handled=True, ask=False)
                except Exception:  # RecursionError near the limit: the host's exception wins
                    pass
                raise

        return wrapper  # type: ignore[return-value]


def _is_coroutine_function(func: Callable[..., Any]) -> bool:
    code = getattr(func, "__code__", None)
    if code is not None:
        return bool(code.co_flags & _CO_COROUTINE)
    import inspect  # partials, callable objects: rare, and only at decoration time

    return inspect.iscoroutinefunction(func)
