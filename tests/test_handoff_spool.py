"""The spool of the handoff, in process: written at exit, read back scrubbed, exactly once.

No process is started here: the exit side (``write_spool``) and the sender side
(``take_spooled``) are called directly on a config dir of the test's.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from otel_telemetry._control import clean, show_text
from otel_telemetry._settings import Settings
from otel_telemetry.capture._snapshot import CapturedEvent, capture_exception
from otel_telemetry.consent._precedence import ConsentDecision
from otel_telemetry.pipeline._handoff import (
    MAX_SPOOLED,
    can_hand_off,
    capture_document,
    lock_sender,
    sender_path,
    settings_arguments,
    spooled_names,
    take_spooled,
    to_json,
    unlock_sender,
    write_spool,
)
from otel_telemetry.pipeline._handoff import _captured as rebuilt  # the reader under test

GRANTED = ConsentDecision("granted", "test", level="crash")
DENIED = ConsentDecision("denied", "test", level="off")
SECRET = "password=hunter2 for alice@example.com"


def _capture(message: str = SECRET) -> object:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return capture_exception(exc, "excepthook", False, packages=("tests",))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings("acme", "tests", "1.2.3", exporters="otlp", config_dir=tmp_path / "config")


def _outbox(settings: Settings) -> list[dict[str, object]]:
    directory = settings.layout().outbox_dir
    if not directory.is_dir():
        return []
    return [json.loads(p.read_text()) for p in sorted(directory.iterdir())]


def test_a_capture_survives_the_spool_unchanged() -> None:
    captured = _capture()
    document = json.loads(json.dumps(capture_document(captured)))  # type: ignore[arg-type]
    assert rebuilt(document) == captured
    event = CapturedEvent("crawl_finished", {"pages": 3, "tags": ("a", "b")})
    assert rebuilt(json.loads(json.dumps(capture_document(event)))) == event


def test_the_spool_file_is_the_owners_alone_and_holds_no_scrubbed_text(
    settings: Settings,
) -> None:
    assert write_spool([_capture()], settings.config_dir_path(), GRANTED) == (1, [])  # type: ignore[list-item]
    spool = settings.layout().spool_dir
    [name] = spooled_names(settings.config_dir_path())
    assert stat.S_IMODE(os.stat(spool / name).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(spool).st_mode) == 0o700
    assert SECRET in (spool / name).read_text()  # unscrubbed until the sender takes it


def test_take_spooled_scrubs_into_the_outbox_once_with_the_ids_drawn_at_exit(
    settings: Settings,
) -> None:
    write_spool([_capture()], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    [name] = spooled_names(settings.config_dir_path())
    drawn = json.loads((settings.layout().spool_dir / name).read_text())

    assert take_spooled(settings, GRANTED) == 1
    assert take_spooled(settings, GRANTED) == 0
    [stored] = _outbox(settings)
    text = json.dumps(stored)
    assert "hunter2" not in text
    assert "alice@example.com" not in text
    assert stored["pending"] == ["otlp"]
    span = stored["span"]
    assert isinstance(span, dict)
    [entry] = drawn["reports"]
    assert (span["trace_id"], span["span_id"]) == (entry["trace_id"], entry["span_id"])
    assert spooled_names(settings.config_dir_path()) == []


def test_a_conversion_cut_short_is_not_written_twice(settings: Settings) -> None:
    write_spool([_capture()], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    take_spooled(settings, GRANTED)
    # As if the converter had ended between the outbox write and the removal.
    [name] = [p.name for p in settings.layout().outbox_dir.iterdir()]
    [stored] = _outbox(settings)
    spool = settings.layout().spool_dir
    entry = {"trace_id": stored["span"]["trace_id"], "span_id": stored["span"]["span_id"]}  # type: ignore[index]
    entry["capture"] = capture_document(_capture())  # type: ignore[arg-type]
    left = {"format": 1, "email": None, "local": False, "reports": [entry]}
    (spool / "00000000000000000001-1-1.json.converting").write_text(json.dumps(left))

    assert take_spooled(settings, GRANTED) == 0
    assert [p.name for p in settings.layout().outbox_dir.iterdir()] == [name]
    assert spooled_names(settings.config_dir_path()) == []


def test_nothing_spooled_is_kept_without_consent_or_after_a_withdrawal(
    settings: Settings,
) -> None:
    write_spool([_capture()], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    assert take_spooled(settings, DENIED) == 0
    assert spooled_names(settings.config_dir_path()) == []

    write_spool([_capture()], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    assert take_spooled(settings, GRANTED, withdrawn_ns=2**62) == 0
    assert spooled_names(settings.config_dir_path()) == []
    assert _outbox(settings) == []


def test_a_held_sender_lock_leaves_the_spool_to_its_holder(settings: Settings) -> None:
    write_spool([_capture()], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    fd = lock_sender(settings.config_dir_path())
    assert fd is not None
    try:
        assert take_spooled(settings, GRANTED) == 0
        assert len(spooled_names(settings.config_dir_path())) == 1
    finally:
        unlock_sender(fd)
    assert take_spooled(settings, GRANTED) == 1


def test_show_scrubs_the_spool_and_clean_deletes_it(settings: Settings) -> None:
    write_spool([_capture()], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    shown = show_text(settings, as_json=True)
    assert "hunter2" not in shown
    assert "alice@example.com" not in shown
    assert "[redacted]" in shown

    cleaned = clean(settings)
    assert cleaned.removed.get("waiting") == 1
    assert spooled_names(settings.config_dir_path()) == []


def test_status_and_clean_count_captures_not_files(settings: Settings) -> None:
    """A spool file and an outbox batch each hold several reports: each one is counted."""
    from otel_telemetry._layout import count_reports
    from otel_telemetry.pipeline._outbox import Outbox

    write_spool([_capture(f"spooled {i}") for i in range(3)], settings.config_dir_path(), GRANTED)  # type: ignore[misc]
    assert take_spooled(settings, GRANTED) == 3  # one outbox batch of three
    write_spool([_capture(f"spooled {i}") for i in range(2)], settings.config_dir_path(), GRANTED)  # type: ignore[misc]
    assert Outbox(settings.layout().outbox_dir).count() == 3
    layout = settings.layout()
    assert count_reports(str(layout.outbox_dir)) + count_reports(str(layout.spool_dir)) == 5

    assert clean(settings).removed.get("waiting") == 5


def test_the_sender_gets_the_settings_it_needs_and_a_bad_route_fails_closed(
    tmp_path: Path,
) -> None:
    settings = Settings(
        "acme",
        ["acme", "acme_plugins"],
        "2.0",
        exporters=["otlp", "sentry"],
        sentry_dsn="https://key@o1.ingest.sentry.io/1",
        config_dir=tmp_path,
        otlp_endpoint="not a url",
        environment="staging",
    )
    arguments = settings_arguments(settings)
    assert arguments["packages"] == ["acme", "acme_plugins"]
    assert arguments["sentry_dsn"] == "https://key@o1.ingest.sentry.io/1"
    assert arguments["otlp_endpoint"] == "invalid"
    assert arguments["environment"] == "staging"
    assert arguments["config_dir"] == str(tmp_path)


@pytest.mark.parametrize(
    "value",
    [
        {"a": [1, -2, 3.5, True, False, None], "b": {"c": "d"}},
        ['quote " backslash \\ newline \n tab \t', "é ü 中 😀", "lone \udc80 surrogate"],
        (1, ("nested", [])),
        {"": "", "k": 10**30, "f": 1e-300},
    ],
)
def test_the_exit_side_writes_json_without_the_json_module(value: object) -> None:
    written = to_json(value)
    assert written.isascii()
    assert json.loads(written) == json.loads(json.dumps(value))


def test_objects_that_are_not_plain_values_are_never_turned_to_text_by_their_code() -> None:
    class Loud:
        def __repr__(self) -> str:
            raise AssertionError("ran")

    assert json.loads(to_json({"x": Loud(), Loud(): 1})) == {"x": "<object>", "<object>": 1}


def test_servers_the_console_and_scrubbing_callbacks_keep_sending_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from otel_telemetry.scrubbing import ScrubbingOptions

    def settings(exporters: str = "otlp", **more: object) -> Settings:
        return Settings("acme", exporters=exporters, config_dir=tmp_path, **more)  # type: ignore[arg-type]

    assert can_hand_off(settings())
    server = settings()
    server.mode_override = "server"
    assert not can_hand_off(server)  # not ending for good: it keeps sending itself
    assert not can_hand_off(settings(exporters="console"))  # the sender's stdout is /dev/null
    callback = ScrubbingOptions(callback=lambda match: None)
    assert not can_hand_off(settings(scrubbing=callback))  # a function cannot be passed on
    monkeypatch.setattr("os.getpid", lambda: 1)
    assert not can_hand_off(settings())  # a container's init: its end ends the sender too
    monkeypatch.undo()
    monkeypatch.setattr("os.getppid", lambda: 1)
    assert not can_hand_off(settings())  # under tini or `sh -c`: their end follows at once
    monkeypatch.undo()
    monkeypatch.setattr("sys.executable", "/usr/bin/uwsgi")
    assert not can_hand_off(settings())  # not an interpreter to start with -c


def _reports(settings: Settings) -> list[dict[str, object]]:
    """The reports of the outbox, each file one report or a batch of them."""
    return [
        report
        for document in _outbox(settings)
        for report in document.get("reports", [document])  # type: ignore[attr-defined]
    ]


def test_an_exit_after_a_burst_writes_one_file_with_the_newest_the_outbox_keeps(
    settings: Settings,
) -> None:
    captures = [_capture(f"error {i}") for i in range(MAX_SPOOLED + 50)]

    assert write_spool(captures, settings.config_dir_path(), GRANTED) == (MAX_SPOOLED, [])  # type: ignore[arg-type]

    assert len(spooled_names(settings.config_dir_path())) == 1  # one file, one fsync
    assert take_spooled(settings, GRANTED) == MAX_SPOOLED
    assert len(_outbox(settings)) == 1  # one outbox file too
    messages = [
        event["attributes"]["exception.message"]  # type: ignore[index]
        for report in _reports(settings)
        for event in report["span"]["events"]  # type: ignore[index]
    ]
    assert messages == [f"error {i}" for i in range(50, MAX_SPOOLED + 50)]


def test_a_capture_of_long_messages_outside_ascii_is_spooled_and_sent(
    settings: Settings,
) -> None:
    # Ten chained messages of 64 Ki characters, each escaped to six bytes in the spool.
    def chain(depth: int) -> BaseException:
        try:
            if depth:
                try:
                    raise chain(depth - 1)
                except ValueError as inner:
                    raise ValueError("\u4e2d" * 65_536) from inner
            raise ValueError("\U0001f600" * 65_536)
        except ValueError as exc:
            return exc

    captured = capture_exception(chain(9), "excepthook", False, packages=("tests",))
    assert len(captured.exceptions) == 10

    assert write_spool([captured], settings.config_dir_path(), GRANTED) == (1, [])  # type: ignore[list-item]
    assert take_spooled(settings, GRANTED) == 1
    [report] = _reports(settings)
    assert len(report["span"]["events"]) == 1  # type: ignore[index]


def test_a_report_made_before_consent_was_withdrawn_is_never_sent(settings: Settings) -> None:
    captured = _capture()
    write_spool([captured], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    withdrawn = captured.time_ns + 1  # type: ignore[attr-defined]  # after the crash

    # Converted after the withdrawal (a sender that was slow): deleted unsent.
    assert take_spooled(settings, GRANTED, withdrawn_ns=withdrawn) == 0
    assert _outbox(settings) == []

    # Converted before it: the outbox file is named by the crash's time, so the drain
    # that comes after the withdrawal deletes it unsent.
    write_spool([captured], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
    assert take_spooled(settings, GRANTED) == 1
    [name] = [p.name for p in settings.layout().outbox_dir.iterdir()]
    assert int(name.split("-", 1)[0]) == captured.time_ns  # type: ignore[attr-defined]


@pytest.mark.parametrize("waiting", ["a spooled capture", "one being converted", "a sender"])
def test_a_withdrawal_while_a_report_is_on_its_way_is_recorded(
    settings: Settings, waiting: str
) -> None:
    """The outbox is empty, but a report may still reach it: the withdrawal's time is kept,
    so that the report, made before it, is deleted unsent whenever it is converted."""
    from otel_telemetry.consent._store import ConfigStore, withdrawn_ns

    layout = settings.layout()
    if waiting == "a sender":
        layout.senders_dir.mkdir(parents=True)
        (layout.senders_dir / str(os.getpid())).touch()  # it holds a capture in memory
    else:
        write_spool([_capture()], settings.config_dir_path(), GRANTED)  # type: ignore[list-item]
        if waiting == "one being converted":
            [name] = spooled_names(settings.config_dir_path())
            os.rename(layout.spool_dir / name, layout.spool_dir / f"{name}.converting")
    store = ConfigStore(settings.config_dir_path())

    try:
        store.save(enabled=True, email=None)
        assert withdrawn_ns(settings.config_dir_path()) == 0
        store.save(enabled=False, email=None)

        assert withdrawn_ns(settings.config_dir_path()) > 0
    finally:  # this process is no sender: the fixtures' wait for senders must not wait
        (layout.senders_dir / str(os.getpid())).unlink(missing_ok=True)


def test_nothing_on_its_way_leaves_the_saved_choice_as_it_was(settings: Settings) -> None:
    from otel_telemetry.consent._store import ConfigStore

    store = ConfigStore(settings.config_dir_path())
    store.save(enabled=False, email=None)
    saved = json.loads(settings.layout().config_file.read_text())
    assert saved == {"telemetry": {"enabled": False}}


def test_the_sender_s_path_holds_no_relative_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """'' (``python -c``, the REPL) or 'src' would be read from the sender's own folder."""
    import otel_telemetry

    home = os.path.dirname(os.path.dirname(otel_telemetry.__file__))
    monkeypatch.setattr("sys.path", ["", "src", ".", "/usr/lib/python3", b"/bytes", home])
    assert sender_path() == ["/usr/lib/python3", home]
    monkeypatch.setattr("sys.path", ["", "/usr/lib/python3"])  # found another way
    assert sender_path() == ["/usr/lib/python3", home]


def test_a_sender_s_pid_given_to_another_process_is_not_taken_for_the_sender(
    settings: Settings,
) -> None:
    """A sender killed before it removed its file, its pid reused: nothing waits for it.

    This process stands for the one given the pid."""
    from otel_telemetry.pipeline._handoff import _register, running_senders

    config_dir = settings.config_dir_path()
    noted = settings.layout().senders_dir / str(os.getpid())
    try:
        _register(config_dir, os.getpid())
        assert running_senders(config_dir) == [os.getpid()]
        assert noted.read_text().isdigit()  # its start time (Linux)
        noted.write_text("12345")  # what the killed sender of that pid left

        assert running_senders(config_dir) == []
        assert not noted.exists()
    finally:
        noted.unlink(missing_ok=True)


def test_a_spool_file_a_killed_writer_left_half_written_goes_after_a_minute(
    settings: Settings,
) -> None:
    """It holds an unscrubbed capture nobody will finish: not kept for ever."""
    import time

    from otel_telemetry.pipeline._handoff import ORPHAN_AGE

    spool = settings.layout().spool_dir
    spool.mkdir(parents=True, mode=0o700)
    orphan, writing = spool / ".1-abc-1.json.tmp", spool / ".2-def-1.json.tmp"
    orphan.write_text(SECRET)
    writing.write_text(SECRET)
    old = time.time() - ORPHAN_AGE - 5
    os.utime(orphan, (old, old))

    assert spooled_names(settings.config_dir_path()) == []

    assert not orphan.exists()
    assert writing.exists()  # a write that may be under way is left alone


def test_a_fifo_planted_as_a_sender_s_file_is_never_waited_on(settings: Settings) -> None:
    """``senders/<pid>`` is read without following links or opening FIFOs for a reader."""
    from otel_telemetry.pipeline._handoff import running_senders

    senders = settings.layout().senders_dir
    senders.mkdir(parents=True, mode=0o700)
    planted = senders / str(os.getpid())
    os.mkfifo(planted)
    try:
        assert running_senders(settings.config_dir_path()) == [os.getpid()]  # unknown: alive
    finally:
        planted.unlink()
