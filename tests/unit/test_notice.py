"""The server-mode notice (``consent/_notice.py``): its line, when it is due, once per app."""

from __future__ import annotations

import io
import itertools
import logging
import sys
from typing import Callable, Optional

import pytest

from otel_telemetry._settings import Settings
from otel_telemetry.consent._notice import ServerNotice, is_server_default, notice_line
from otel_telemetry.consent._precedence import ConsentDecision

_apps = itertools.count()

GRANTED_BY_SERVER = ConsentDecision("granted", "mode:server")


@pytest.fixture
def app() -> str:
    """An app name no other test used: the notice is shown once per process per app."""
    return f"notice{next(_apps)}"


class _Stderr:
    """What was written to stderr so far (pytest's own capture of it)."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self._capsys = capsys
        self._seen = ""

    def getvalue(self) -> str:
        self._seen += self._capsys.readouterr().err
        return self._seen


@pytest.fixture
def stderr(capsys: pytest.CaptureFixture[str]) -> _Stderr:
    return _Stderr(capsys)


def _settings(app: str, **arguments: object) -> Settings:
    return Settings(app, **arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("display_name", "privacy_url", "line"),
    [
        pytest.param(
            "Acme",
            "https://acme.example/privacy",
            "Acme sends crash reports (errors only, personal data removed) to its"
            " maintainers. Set ACME_TELEMETRY=0 to turn this off."
            " Details: https://acme.example/privacy",
            id="with a privacy URL",
        ),
        pytest.param(
            "Acme",
            None,
            "Acme sends crash reports (errors only, personal data removed) to its"
            " maintainers. Set ACME_TELEMETRY=0 to turn this off.",
            id="without: no Details",
        ),
        pytest.param(
            "Acme\nCrawler\x1b[2J  Pro",
            None,
            "Acme Crawler [2J Pro sends crash reports (errors only, personal data removed) to"
            " its maintainers. Set ACME_TELEMETRY=0 to turn this off.",
            id="always one line",
        ),
    ],
)
def test_the_line(display_name: str, privacy_url: Optional[str], line: str) -> None:
    assert notice_line(display_name, "ACME_TELEMETRY", privacy_url) == line


def test_the_line_names_the_apps_own_variable_and_display_name() -> None:
    settings = _settings("my-app", display_name="My App", privacy_url="https://my.example/p?x=1")
    assert ServerNotice(settings).line == (
        "My App sends crash reports (errors only, personal data removed) to its maintainers."
        " Set MY_APP_TELEMETRY=0 to turn this off. Details: https://my.example/p?x=1"
    )


@pytest.mark.parametrize(
    ("decision", "due"),
    [
        pytest.param(GRANTED_BY_SERVER, True, id="the server default"),
        pytest.param(ConsentDecision("granted", "ACME_TELEMETRY"), False, id="the variable"),
        pytest.param(ConsentDecision("granted", "config"), False, id="the saved choice"),
        pytest.param(ConsentDecision("granted", "session"), False, id="this process's choice"),
        pytest.param(ConsentDecision("granted", "testing"), False, id="the testing seam"),
        pytest.param(ConsentDecision("denied", "ACME_TELEMETRY"), False, id="off"),
        pytest.param(ConsentDecision("denied", "DO_NOT_TRACK"), False, id="do not track"),
        pytest.param(ConsentDecision("ask", "mode:interactive"), False, id="asked"),
    ],
)
def test_due_only_on_the_server_default(decision: ConsentDecision, due: bool) -> None:
    assert is_server_default(decision) is due


def test_shown_once_per_app_whatever_the_number_of_telemetry_objects(
    app: str, stderr: _Stderr
) -> None:
    first, second = ServerNotice(_settings(app)), ServerNotice(_settings(app))
    other = ServerNotice(_settings(app + "x"))

    assert first.show() is True
    assert first.show() is False
    assert second.show() is False
    assert second.shown
    assert other.show() is True

    assert stderr.getvalue().splitlines() == [first.line, other.line]


def test_sending_asks_the_gate_until_shown_then_never_again(app: str, stderr: _Stderr) -> None:
    decisions = [ConsentDecision("granted", "config"), GRANTED_BY_SERVER]
    asked: list[ConsentDecision] = []

    def gate() -> ConsentDecision:
        asked.append(decisions[min(len(asked), 1)])
        return asked[-1]

    notice = ServerNotice(_settings(app)).before_sending(gate)
    notice()  # a saved choice: nothing shown
    assert stderr.getvalue() == ""
    notice()  # the server default: shown now
    notice()  # shown: the gate is not asked again
    assert len(asked) == 2
    assert stderr.getvalue().count("sends crash reports") == 1


@pytest.mark.parametrize(
    ("exporters", "dsn", "shown"),
    [
        pytest.param("otlp", None, True, id="otlp"),
        pytest.param("sentry", "https://k@sentry.example/1", True, id="sentry with a DSN"),
        pytest.param(None, "https://k@sentry.example/1", True, id="the default with a DSN"),
        pytest.param("mybackend", None, True, id="a third party's: treated as remote"),
        pytest.param(None, None, False, id="the default without a DSN: the local file"),
        pytest.param("sentry", None, False, id="sentry without a DSN: the local file"),
        pytest.param("file,console,none", None, False, id="local ones only"),
    ],
)
def test_at_start_only_when_reports_may_leave_the_machine(
    app: str,
    stderr: _Stderr,
    exporters: Optional[str],
    dsn: Optional[str],
    shown: bool,
) -> None:
    notice = ServerNotice(_settings(app, exporters=exporters, sentry_dsn=dsn))

    assert notice.show_at_start(lambda: GRANTED_BY_SERVER) is shown
    assert bool(stderr.getvalue()) is shown


def test_at_start_not_when_consent_comes_from_elsewhere(app: str, stderr: _Stderr) -> None:
    notice = ServerNotice(_settings(app, exporters="otlp"))

    for source in ("ACME_TELEMETRY", "config", "DO_NOT_TRACK"):
        assert not notice.show_at_start(lambda s=source: ConsentDecision("granted", s))  # type: ignore[misc]
    assert stderr.getvalue() == ""


class _Broken(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(lambda: None, id="no stderr"),
        pytest.param(_Broken, id="a broken pipe"),
        pytest.param(lambda: _closed(), id="closed"),
    ],
)
def test_a_stderr_that_cannot_be_written_never_raises(
    app: str, monkeypatch: pytest.MonkeyPatch, stream: Callable[[], object]
) -> None:
    monkeypatch.setattr(sys, "stderr", stream())
    notice = ServerNotice(_settings(app))

    assert notice.show() is True  # given where it could be: sending goes on
    assert notice.shown


def _closed() -> io.StringIO:
    stream = io.StringIO()
    stream.close()
    return stream


def test_logged_at_info_on_the_otel_telemetry_logger(
    app: str, stderr: _Stderr, caplog: pytest.LogCaptureFixture
) -> None:
    notice = ServerNotice(_settings(app, privacy_url="https://acme.example/privacy"))

    with caplog.at_level(logging.INFO, logger="otel_telemetry"):
        notice.show()

    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        ("otel_telemetry", logging.INFO, notice.line)
    ]
    assert stderr.getvalue() == notice.line + "\n"


def test_a_log_handler_that_raises_never_raises(app: str, stderr: _Stderr) -> None:
    class Raising(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise RuntimeError("the host's handler")

        def handleError(self, record: logging.LogRecord) -> None:
            raise RuntimeError("and its error handling")

    logger = logging.getLogger("otel_telemetry")
    handler, level = Raising(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        assert ServerNotice(_settings(app)).show() is True
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert "sends crash reports" in stderr.getvalue()


@pytest.mark.parametrize(
    "variable",
    [
        pytest.param("{APP}_TELEMETRY=1", id="the switch on"),
        pytest.param("{APP}_TELEMETRY=0", id="the switch off"),
        pytest.param("DO_NOT_TRACK=1", id="do not track"),
    ],
)
def test_at_start_a_variable_decides_without_reading_the_saved_choice(
    app: str, stderr: _Stderr, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    name, _, value = variable.replace("{APP}", app.upper()).partition("=")
    monkeypatch.setenv(name, value)

    def decision() -> ConsentDecision:
        raise AssertionError("config.json read at start although a variable decides")

    assert ServerNotice(_settings(app, exporters="otlp")).show_at_start(decision) is False
    assert stderr.getvalue() == ""
