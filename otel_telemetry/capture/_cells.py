"""Notebook and IPython cells: their exceptions bypass ``sys.excepthook``.

They are taken from IPython's ``post_run_cell`` event, so the traceback the user sees
is IPython's own, unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

from otel_telemetry._ipython import ipython_shell


class CellHook:
    """Reports exceptions raised in cells, from IPython's ``post_run_cell`` event."""

    def __init__(self, report: Callable[[BaseException, str], None]) -> None:
        self._report = report
        self._shell: Any = None

    def install(self) -> None:
        shell = ipython_shell()
        if shell is None or self._shell is not None:
            return
        shell.events.register("post_run_cell", self._post_run_cell)
        self._shell = shell

    def uninstall(self) -> None:
        shell, self._shell = self._shell, None
        if shell is not None:
            try:
                shell.events.unregister("post_run_cell", self._post_run_cell)
            except ValueError:
                pass

    def _post_run_cell(self, result: Any) -> None:
        error = getattr(result, "error_in_exec", None)
        if error is not None:
            self._report(error, "ipython")
