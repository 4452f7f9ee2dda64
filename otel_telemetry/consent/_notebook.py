"""Notebooks (Jupyter, JupyterLab, VS Code, Colab): the inline question.

(Cell crashes are seen by ``capture/_cells.py``.) The question is an ipywidgets box shown under
the cell that crashed; it never blocks the kernel. Without ipywidgets (or with
``<APP>_TELEMETRY_WIDGETS=0``, for front ends that cannot render widgets) a one-line
message says how to opt in from Python instead.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Callable, Optional

from otel_telemetry._ipython import ipython_shell

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


def show_question(
    name: str, app: str, answer: Callable[[Choice, Optional[str]], None], widgets_allowed: bool
) -> None:
    """Show the inline question under the current cell, or the passive message.

    Args:
        name: the host's display name.
        app: the host's app name, as in ``<app>.telemetry.enable(...)``.
        answer: applies the user's click.
        widgets_allowed: False where the front end cannot render ipywidgets.
    """
    # Widgets need a kernel to live in; outside one (the mode forced, say) only text works.
    widgets = _ipywidgets() if widgets_allowed and ipython_shell() is not None else None
    if widgets is None:
        message = PASSIVE.format(name=name, app=app)
        print(message, file=sys.stderr, flush=True)
        return
    import IPython.display

    display: Callable[..., Any] = IPython.display.display  # untyped upstream
    display(build_question(widgets, name, answer))


def build_question(widgets: Any, name: str, answer: Callable[[Choice, Optional[str]], None]) -> Any:
    """The question as an ipywidgets box: text, three buttons, an email box, a status line."""
    from ._precedence import validated_email

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
