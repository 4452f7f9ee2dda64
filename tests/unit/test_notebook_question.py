"""The inline notebook question (``consent/_notebook.py``), with real ipywidgets objects."""

from __future__ import annotations

from typing import Any, Optional

import pytest

from otel_telemetry.consent._notebook import CONFIRMATIONS, build_question

widgets = pytest.importorskip("ipywidgets")


class Answers:
    def __init__(self) -> None:
        self.given: list[tuple[str, Optional[str]]] = []

    def __call__(self, choice: str, email: Optional[str]) -> None:
        self.given.append((choice, email))


def parts(box: Any) -> tuple[Any, dict[str, Any], Any, Any]:
    title, row, _hint, email, status, _toggle, _report = box.children
    buttons = {button.description: button for button in row.children}
    return title, buttons, email, status


def test_the_question_shows_three_buttons_and_an_email_box() -> None:
    answers = Answers()
    box = build_question(widgets, "Acme <Labs>", answers)

    title, buttons, email, status = parts(box)
    assert "Help improve Acme &lt;Labs&gt; by sending crash reports?" in title.value  # escaped
    assert list(buttons) == ["Yes", "Yes, always", "No"]
    assert email.value == ""
    assert status.value == ""
    assert answers.given == []  # nothing is sent before a click


@pytest.mark.parametrize(
    ("button", "typed", "given", "choice"),
    [
        pytest.param("Yes", "", [("once", None)], "once", id="yes"),
        pytest.param(
            "Yes, always",
            " dev@example.org ",
            [("always", "dev@example.org")],
            "always",
            id="always, with email",
        ),
        pytest.param("No", "not an email", [("never", None)], "never", id="no: email ignored"),
    ],
)
def test_a_click_answers_once_and_disables_the_question(
    button: str, typed: str, given: list, choice: str
) -> None:
    answers = Answers()
    box = build_question(widgets, "Acme", answers)
    _, buttons, email, status = parts(box)
    email.value = typed

    buttons[button].click()

    assert answers.given == given
    assert all(b.disabled for b in buttons.values())
    assert email.disabled
    assert status.value == CONFIRMATIONS[choice]


def test_an_invalid_email_is_asked_again_and_nothing_is_answered() -> None:
    answers = Answers()
    box = build_question(widgets, "Acme", answers)
    _, buttons, email, status = parts(box)
    email.value = "bob at example"

    buttons["Yes"].click()

    assert answers.given == []
    assert "not an email address" in status.value
    assert not any(b.disabled for b in buttons.values())

    email.value = "bob@example.com"
    buttons["Yes"].click()
    assert answers.given == [("once", "bob@example.com")]
