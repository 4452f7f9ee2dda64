"""The notebook question's "View report" toggle (``consent/_notebook.py``), with real ipywidgets."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any, Callable, Optional

import ipywidgets as widgets
import pytest

from otel_telemetry.consent._notebook import (
    CONFIRMATIONS,
    EMAIL_SENT_TOO,
    HIDE,
    UNAVAILABLE,
    VIEW,
    build_question,
)

REPORT = "acme.crawler.CrawlError: could not fetch [url]\n  acme/crawler.py:52 in _fetch"


class Preview:
    """A ``preview`` callable that counts its calls."""

    def __init__(self, text: str = REPORT, error: Optional[Exception] = None) -> None:
        self.text, self.error, self.calls = text, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return self.text


class Parsed(HTMLParser):
    """The tags of an HTML fragment and the text inside each."""

    def __init__(self, fragment: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: dict[str, str] = {}
        self.feed(fragment)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        if self.tags:
            self.text[self.tags[-1]] = self.text.get(self.tags[-1], "") + data


class Question:
    """The built box, its parts, and the answers it gave."""

    def __init__(self, preview: Optional[Callable[[], str]]) -> None:
        self.answers: list[tuple[str, Optional[str]]] = []
        self.box = build_question(
            widgets, "Acme", lambda choice, email: self.answers.append((choice, email)), preview
        )
        _title, row, _hint, self.email, self.status, self.toggle, self.view = self.box.children
        self.buttons: dict[str, Any] = {b.description: b for b in row.children}

    @property
    def shown(self) -> bool:
        return self.view.layout.display != "none" and self.view.value != ""


def test_the_report_is_hidden_and_not_fetched_until_the_toggle_is_clicked() -> None:
    preview = Preview()
    question = Question(preview)

    assert question.toggle.description == VIEW
    assert not question.shown
    assert question.view.layout.display == "none"
    assert preview.calls == 0  # building the question renders nothing


def test_the_toggle_shows_then_hides_and_fetches_the_report_once() -> None:
    preview = Preview()
    question = Question(preview)

    question.toggle.click()
    assert question.shown
    assert question.toggle.description == HIDE
    parsed = Parsed(question.view.value)
    assert parsed.tags == ["pre", "small"]
    assert parsed.text["pre"] == REPORT  # the text, line breaks included, unchanged
    assert parsed.text["small"] == EMAIL_SENT_TOO

    question.toggle.click()
    assert not question.shown
    assert question.view.layout.display == "none"
    assert question.toggle.description == VIEW

    question.toggle.click()
    assert question.shown
    assert Parsed(question.view.value).text["pre"] == REPORT
    assert preview.calls == 1  # the held report does not change: one fetch


def test_nothing_of_the_report_is_read_as_html() -> None:
    text = 'ValueError: <script>alert("x")</script> & <b onmouseover=steal()>bold</b>'
    question = Question(Preview(text))

    question.toggle.click()

    assert "<script" not in question.view.value
    assert "<b " not in question.view.value
    assert "&lt;script&gt;" in question.view.value
    parsed = Parsed(question.view.value)
    assert parsed.tags == ["pre", "small"]  # no tag of the report's own
    assert parsed.text["pre"] == text


@pytest.mark.parametrize(
    "preview",
    [
        pytest.param(Preview(error=RuntimeError("the pipeline is gone")), id="raising"),
        pytest.param(None, id="none"),
    ],
)
def test_a_report_that_cannot_be_shown_says_so_and_the_question_still_works(
    preview: Optional[Preview],
) -> None:
    question = Question(preview)

    question.toggle.click()

    assert question.shown
    assert "<pre" not in question.view.value
    assert UNAVAILABLE in question.view.value
    assert question.toggle.description == HIDE
    assert not any(b.disabled for b in question.buttons.values())

    question.buttons["Yes"].click()
    assert question.answers == [("once", None)]
    assert question.status.value == CONFIRMATIONS["once"]


def test_answering_after_viewing_keeps_the_report_viewable() -> None:
    preview = Preview()
    question = Question(preview)
    question.toggle.click()
    question.email.value = "me@example.com"

    question.buttons["Yes, always"].click()

    assert question.answers == [("always", "me@example.com")]
    assert all(b.disabled for b in question.buttons.values())
    assert not question.toggle.disabled  # what was answered about can still be read or hidden
    question.toggle.click()
    assert not question.shown
    question.toggle.click()
    assert Parsed(question.view.value).text["pre"] == REPORT
    assert preview.calls == 1


def test_answering_without_viewing_disables_the_toggle_and_fetches_nothing() -> None:
    preview = Preview()
    question = Question(preview)

    question.buttons["No"].click()

    assert question.answers == [("never", None)]
    assert question.toggle.disabled  # the report is gone: it would read "no report is waiting"
    assert preview.calls == 0
