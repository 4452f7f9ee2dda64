"""Notebooks (Jupyter, JupyterLab, VS Code, Colab): cell crashes and the inline question.

Cell exceptions are taken from IPython's ``post_run_cell`` event, so the traceback the
user sees is IPython's own, unchanged. The question is an ipywidgets box shown under
the cell that crashed; it never blocks the kernel. Without ipywidgets (or with
``<APP>_TELEMETRY_WIDGETS=0``, for front ends that cannot render widgets) a one-line
message says how to opt in from Python instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Literal, Optional

if TYPE_CHECKING:
    from ._telemetry import Telemetry

Choice = Literal["once", "always", "never"]

QUESTION = "We noticed an error. Help improve {name} by sending crash reports?"
EMAIL_HINT = "Optional: enter email so we can follow up"
PASSIVE = (
    "{name} error detected. Telemetry is OFF. To enable: "
    '{app}.telemetry.enable(email="you@example.com", always=True)'
)
CONFIRMATIONS = {
    "once": "Thank you: this report was sent.",
    "always": "Thank you: crash reports will be sent from now on.",
    "never": "Crash reports stay off; you will not be asked again.",
}


def ipython_shell() -> Any:
    """The running IPython shell, or None; IPython is never imported here."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    try:
        return ipython.get_ipython()
    except Exception:
        return None


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


def show_question(telemetry: Telemetry, widgets_allowed: bool) -> None:
    """Show the inline question under the current cell, or the passive message."""
    # Widgets need a kernel to live in; outside one (the mode forced, say) only text works.
    widgets = _ipywidgets() if widgets_allowed and ipython_shell() is not None else None
    if widgets is None:
        message = PASSIVE.format(name=telemetry.display_name, app=telemetry.app)
        print(message, file=sys.stderr, flush=True)
        return
    import IPython.display

    display: Callable[..., Any] = IPython.display.display  # untyped upstream
    display(build_question(widgets, telemetry.display_name, telemetry._answer_question))


def build_question(widgets: Any, name: str, answer: Callable[[Choice, Optional[str]], None]) -> Any:
    """The question as an ipywidgets box: text, three buttons, an email box, a status line."""
    from ._consent import validated_email

    buttons: dict[Choice, Any] = {
        "once": widgets.Button(description="Yes", button_style="success"),
        "always": widgets.Button(description="Yes, always", button_style="info"),
        "never": widgets.Button(description="No"),
    }
    email = widgets.Text(placeholder="you@example.com", description="Email:")
    status = widgets.HTML(value="")

    def on_click(choice: Choice) -> Callable[[Any], None]:
        def clicked(_button: Any) -> None:
            given: Optional[str] = None
            if choice != "never":
                try:
                    given = validated_email(email.value)
                except ValueError:
                    status.value = "That is not an email address; correct it or leave it empty."
                    return
            for button in buttons.values():
                button.disabled = True
            email.disabled = True
            answer(choice, given)
            status.value = CONFIRMATIONS[choice]

        return clicked

    for choice, button in buttons.items():
        button.on_click(on_click(choice))
    return widgets.VBox(
        [
            widgets.HTML(value=f"<b>{_escape(QUESTION.format(name=name))}</b>"),
            widgets.HBox(list(buttons.values())),
            widgets.HTML(value=f"<small>{EMAIL_HINT}</small>"),
            email,
            status,
        ]
    )


def _ipywidgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        return None
    return ipywidgets


def _escape(text: str) -> str:
    import html

    return html.escape(text)
