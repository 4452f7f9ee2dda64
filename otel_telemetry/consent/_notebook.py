"""Notebooks (Jupyter, JupyterLab, VS Code, Colab): the inline question.

(Cell crashes are seen by ``capture/_cells.py``.) The question is an ipywidgets box shown under
the cell that crashed; it never blocks the kernel. Its "View report" toggle shows the report
that "Yes" would send, as plain text. Without ipywidgets (or with
``<APP>_TELEMETRY_WIDGETS=0``, for front ends that cannot render widgets) a one-line
message says how to opt in from Python instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Optional

from otel_telemetry._ipython import ipython_shell
from otel_telemetry._log import debug

if TYPE_CHECKING:
    from ._types import Choice

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
VIEW = "View report"
HIDE = "Hide report"
UNAVAILABLE = "The report cannot be shown here. You can still answer the question."
EMAIL_SENT_TOO = "If you type an email above, it is sent with the report too."


def show_question(
    name: str,
    app: str,
    answer: Callable[[Choice, Optional[str]], None],
    widgets_allowed: bool,
    preview: Optional[Callable[[], str]] = None,
) -> None:
    """Show the inline question under the current cell, or the passive message.

    Args:
        name: the host's display name.
        app: the host's app name, as in ``<app>.telemetry.enable(...)``.
        answer: applies the user's click.
        widgets_allowed: False where the front end cannot render ipywidgets.
        preview: returns the readable report "Yes" sends (plain text); called at the
            first click on "View report" only, on the kernel's thread. None: the toggle
            says the report cannot be shown.
    """
    # Widgets need a kernel to live in; outside one (the mode forced, say) only text works.
    widgets = _ipywidgets() if widgets_allowed and ipython_shell() is not None else None
    if widgets is None:
        message = PASSIVE.format(name=name, app=app)
        print(message, file=sys.stderr, flush=True)
        return
    import IPython.display

    display: Callable[..., Any] = IPython.display.display  # untyped upstream
    display(build_question(widgets, name, answer, preview))


def build_question(
    widgets: Any,
    name: str,
    answer: Callable[[Choice, Optional[str]], None],
    preview: Optional[Callable[[], str]] = None,
) -> Any:
    """The question as an ipywidgets box.

    Its children, in order: the question, the three answer buttons (one row), the email
    hint, the email box, the status line, the "View report" toggle and the report (hidden
    until the toggle is clicked; see :class:`ReportToggle`).
    """
    from ._precedence import validated_email

    buttons: dict[Choice, Any] = {
        "once": widgets.Button(description="Yes", button_style="success"),
        "always": widgets.Button(description="Yes, always", button_style="info"),
        "never": widgets.Button(description="No"),
    }
    email = widgets.Text(placeholder="you@example.com", description="Email:")
    status = widgets.HTML(value="")
    report = ReportToggle(widgets, preview)

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
            report.answered()
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
            report.button,
            report.view,
        ]
    )


class ReportToggle:
    """The "View report" toggle: the report is fetched at the first click, then shown or hidden.

    The text is shown escaped inside a ``<pre>``: nothing of a report (a message can hold
    ``<script>``) is ever read as HTML. A preview that raises, or none at all, leaves a
    line saying the report cannot be shown; the answer buttons are never affected.

    Attributes:
        button: the toggle ("View report", then "Hide report").
        view: the report's HTML widget; its layout's ``display`` is ``"none"`` while hidden.
    """

    def __init__(self, widgets: Any, preview: Optional[Callable[[], str]]) -> None:
        self._preview = preview
        self._html: Optional[str] = None  # fetched once: the held report does not change
        self._shown = False
        self.button = widgets.Button(description=VIEW, tooltip="What Yes sends, as text")
        self.view = widgets.HTML(value="", layout=widgets.Layout(display="none"))
        self.button.on_click(self._clicked)

    def answered(self) -> None:
        """The question was answered: the held report is sent or dropped, not fetchable.

        A report already fetched stays viewable (it is what was answered about); one never
        fetched would now read "no report is waiting", so the toggle is disabled instead.
        """
        if self._html is None:
            self.button.disabled = True

    def _clicked(self, _button: Any) -> None:
        if self._shown:
            self._shown = False
            self.view.value = ""
            self.view.layout.display = "none"
            self.button.description = VIEW
            return
        if self._html is None:
            self._html = _report_html(self._preview)
        self._shown = True
        self.view.value = self._html
        self.view.layout.display = None
        self.button.description = HIDE


def _report_html(preview: Optional[Callable[[], str]]) -> str:
    """The report as escaped HTML, or the line saying it cannot be shown."""
    text: Optional[str] = None
    if preview is not None:
        try:
            text = preview()
        except Exception:
            # A click handler that raises shows a traceback in the cell; the question must
            # stay usable, so the failure is logged and the box says what it can.
            debug("the notebook question could not render its report", exc_info=True)
    if text is None:
        return f"<i>{_escape(UNAVAILABLE)}</i>"
    return (
        '<pre style="white-space: pre-wrap; max-height: 50em; overflow: auto">'
        f"{_escape(text)}</pre><small>{_escape(EMAIL_SENT_TOO)}</small>"
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
