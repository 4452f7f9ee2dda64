"""``show``, ``show --sent``, ``--json``, ``local``, ``clean`` and ``enable --usage``, as users run them.

Real processes only: the example's ``acme`` console script, ``python -m otel_telemetry
--app acme`` and an argparse host, against a real OTLP receiver; a pseudo-terminal
where colour matters.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.json_format import MessageToDict

from otel_telemetry._layout import count_reports
from otel_telemetry._status import TelemetryStatus
from otel_telemetry.pipeline._sent import SentLog
from tests.cli_hosts import finish, spawn
from tests.conftest import acme_command, otlp_env, run, run_acme, run_python
from tests.payloads import CONTACT, CRAWL_URL, SECRETS, attributes
from tests.test_cli import ARGPARSE_HOST

pytestmark = pytest.mark.integration

CRASH = ["crawl", CRAWL_URL, "--contact", CONTACT]

# Three handled errors of a host, each flushed before the next: delivered in this order.
THREE_ERRORS = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
for i in range(3):
    try:
        {}[f"key {i}"]
    except KeyError as exc:
        t.capture_exception(exc)
    assert t.flush(30)
"""

# A usage event and an error, while the OTLP endpoint is down: both wait in the outbox.
EVENT_AND_ERROR = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.send_event("search", {"pages": 3})
try:
    raise ValueError("boom")
except ValueError as exc:
    t.capture_exception(exc)
t.flush(30)
"""


def _acme(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_acme(["telemetry", *args], env)


def _module(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "otel_telemetry", "--app", "acme", *args], env)


def _argparse(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_python(ARGPARSE_HOST, env, "telemetry", *args)


DOORS = {
    "acme": (_acme, "acme telemetry"),
    "module": (_module, "python -m otel_telemetry --app acme"),
    "argparse": (_argparse, "acme-argparse telemetry"),
}


def ok(result: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout, once it succeeded without a traceback."""
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    return result.stdout


def hex_ids(document: dict[str, Any]) -> dict[str, Any]:
    """Protobuf's JSON mapping (base64 ids) as OTLP/JSON writes it (hex ids)."""
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return document


def delivery_id(span: dict[str, Any]) -> str:
    """The OTLP exporter's delivery id of a span the receiver got: ``<trace>/<span>``."""
    trace = base64.b64decode(span["traceId"]).hex()
    return f"{trace}/{base64.b64decode(span['spanId']).hex()}"


def places(text: str) -> list[str]:
    starts = ("Sent to ", "Stored by ", "Waiting in ", "Printed by ")
    return [line for line in text.splitlines() if line.startswith(starts)]


@pytest.fixture
def delivered(host_env, otlp_http):
    """The acme crash, delivered to the OTLP receiver; the environment and what arrived."""
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    result = run_acme(CRASH, env)
    assert result.returncode == 1, result.stderr
    [received] = otlp_http.wait_for(1)
    return env, received


def test_show_after_a_delivery_is_readable_and_names_the_exporter_and_id(delivered):
    env, received = delivered
    span = received.span()
    event = attributes(span["events"][0]["attributes"])

    shown = ok(run_acme(["telemetry", "show"], env))

    [place] = places(shown)
    assert place.startswith("Sent to otlp at ")
    assert place.endswith(f" UTC, delivery id {delivery_id(span)}")
    assert "acme.crawler.CrawlError" in shown
    assert event["exception.message"] in shown
    assert "acme/cli.py" in shown
    assert not shown.lstrip().startswith("{")  # readable, not the JSON
    for secret in (*SECRETS, CRAWL_URL, CONTACT):
        assert secret not in shown, secret


def test_show_json_is_what_the_receiver_got(delivered):
    env, received = delivered
    shown = ok(run_acme(["telemetry", "show", "--json"], env))
    expected = hex_ids(MessageToDict(received.request, use_integers_for_enums=True))
    assert json.loads(shown) == expected


def test_show_sent_lists_every_delivery_newest_last(host_env, otlp_http):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="1")
    run_python(THREE_ERRORS, env, check=True)
    spans = otlp_http.wait_for_spans(3)

    listed = ok(run_acme(["telemetry", "show", "--sent"], env)).splitlines()

    assert listed[0].startswith("Sent from this machine, newest last (3, kept in ")
    assert len(listed) == 4
    for line, span in zip(listed[1:], spans):
        when, exporter, delivered_as, summary = line.split("  ", 3)
        assert when.endswith(" UTC")
        assert (exporter, delivered_as) == ("otlp", delivery_id(span))
        assert summary.startswith("KeyError")
    entries = json.loads(ok(run_acme(["telemetry", "show", "--sent", "--json"], env)))
    assert [e["delivery_id"] for e in entries] == [delivery_id(s) for s in spans]
    assert [e["exporter"] for e in entries] == ["otlp"] * 3


def test_local_records_here_and_uploads_nothing(host_env, config_dir, otlp_http):
    said = ok(run_acme(["telemetry", "local"], host_env))
    reports = config_dir / "telemetry" / "reports"
    assert said == (
        f"Reports for acme are recorded in {reports} and never uploaded."
        " See them with `acme telemetry show`.\n"
    )
    env = otlp_env(host_env, otlp_http)  # the otlp exporter configured: still nothing leaves

    assert run_acme(CRASH, env).returncode == 1
    assert otlp_http.requests == []  # the process has ended: nothing was or will be sent

    shown = ok(run_acme(["telemetry", "show"], env))
    assert shown.splitlines()[0] == (
        f"Local mode: reports are recorded on this machine, in {reports}, and never uploaded."
    )
    assert "acme.crawler.CrawlError" in shown
    assert any(p.startswith("Stored by the file exporter") for p in places(shown))
    status = json.loads(ok(run_acme(["telemetry", "status", "--json"], env)))
    assert status["level"] == "local"
    assert otlp_http.requests == []


def test_local_through_the_variable_says_so_too(host_env, config_dir):
    host_env["ACME_TELEMETRY"] = "local"
    assert run_acme(CRASH, host_env).returncode == 1
    shown = ok(run_acme(["telemetry", "show"], host_env))
    assert shown.startswith("Local mode: reports are recorded on this machine")
    assert "acme.crawler.CrawlError" in shown


def test_clean_removes_what_is_kept_and_keeps_the_choice(host_env, config_dir, otlp_http):
    ok(run_acme(["telemetry", "enable", "--usage"], host_env))
    telemetry = config_dir / "telemetry"
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY_EXPORTER="otlp,file")
    run_python(EVENT_AND_ERROR, env, check=True)  # delivered: recorded as sent
    otlp_http.down = True  # the next two wait in the outbox
    run_python(EVENT_AND_ERROR, env, check=True)
    (telemetry / "backoff.json").write_text('{"otlp": 9999999999}')
    # What clean must remove is there (else this test would prove nothing).
    assert count_reports(str(telemetry / "outbox")) == 2  # one file or a batch of two
    [day_file] = (telemetry / "reports").iterdir()
    assert day_file.read_text().count("\n") == 4
    assert SentLog(telemetry / "sent").count() == 2  # a file each, or a batch of two
    assert (telemetry / "install_id").is_file()
    config = (config_dir / "config.json").read_bytes()

    cleaned = run_acme(["telemetry", "clean"], env)

    assert ok(cleaned) == (
        "Removed 2 waiting reports, 4 stored reports, 2 sent records, the install id and"
        " the backoff state; your choice is kept.\n"
    )
    for folder in ("outbox", "reports", "sent"):
        assert os.listdir(telemetry / folder) == [], folder
    assert sorted(os.listdir(telemetry)) == ["outbox", "reports", "sent"]
    assert (config_dir / "config.json").read_bytes() == config
    assert (config_dir / ".config.json.lock").exists()
    assert ok(run_acme(["telemetry", "clean"], env)) == "Nothing to remove; your choice is kept.\n"
    assert json.loads(ok(run_acme(["telemetry", "status", "--json"], env)))["level"] == "all"


def test_enable_usage_is_level_all(host_env, config_dir):
    said = ok(run_acme(["telemetry", "enable", "--usage"], host_env))
    assert said == "Crash reports and anonymous usage events for acme are enabled.\n"
    status = json.loads(ok(run_acme(["telemetry", "status", "--json"], host_env)))
    assert (status["enabled"], status["level"], status["decided_by"]) == (True, "all", "config")
    assert (
        ok(run_acme(["telemetry", "enable"], host_env)) == "Crash reports for acme are enabled.\n"
    )
    status = json.loads(ok(run_acme(["telemetry", "status", "--json"], host_env)))
    assert status["level"] == "crash"


def test_status_json_has_every_field(host_env, config_dir):
    status = json.loads(ok(run_acme(["telemetry", "status", "--json"], host_env)))
    of_this_process = {"held", "dropped", "drops"}
    assert set(status) == {
        f"{f.name}_in_this_process" if f.name in of_this_process else f.name
        for f in dataclasses.fields(TelemetryStatus)
    }
    assert (status["held_in_this_process"], status["dropped_in_this_process"]) == (0, 0)
    assert status["config_file"] == str(config_dir / "config.json")
    assert status["app"] == "acme"
    assert status["enabled"] is False
    assert status["exporters"] == ["file"]
    text = ok(run_acme(["telemetry", "status"], host_env))
    assert "  reports:   waiting 0, sent 0; in this process: held 0, dropped 0\n" in text


def test_status_json_escapes_what_could_drive_a_terminal(host_env, config_dir):
    email = "a\u202eb\u2028c\x9b2J\u200bd@example.com"
    (config_dir / "config.json").write_text(
        json.dumps({"telemetry": {"enabled": True, "email": email}}, ensure_ascii=False)
    )
    shown = ok(run_acme(["telemetry", "status", "--json"], host_env))
    assert json.loads(shown)["email"] == email
    for char in "\u202e\u2028\x9b\u200b":
        assert char not in shown, f"U+{ord(char):04X}"


def test_a_variable_that_decides_otherwise_is_named(host_env):
    host_env["DO_NOT_TRACK"] = "1"
    result = run_acme(["telemetry", "enable"], host_env)
    assert ok(result) == "Crash reports for acme are enabled.\n"
    assert result.stderr == "Note: DO_NOT_TRACK is set and decides for now (nothing is sent).\n"


@pytest.mark.parametrize(
    ("variable", "effect"),
    [
        pytest.param("1", "crash reports are still sent", id="1"),
        pytest.param("all", "crash reports and usage events are still sent", id="all"),
        pytest.param(
            "local", "reports are still recorded on this machine, never uploaded", id="local"
        ),
        pytest.param("0", None, id="0: it agrees"),
    ],
)
def test_disable_names_a_variable_that_still_decides(host_env, config_dir, variable, effect):
    host_env["ACME_TELEMETRY"] = variable
    result = run_acme(["telemetry", "disable"], host_env)
    assert ok(result) == "Crash reports for acme are disabled.\n"
    note = f"Note: ACME_TELEMETRY is set and decides for now ({effect}).\n" if effect else ""
    assert result.stderr == note
    assert json.loads((config_dir / "config.json").read_text()) == {"telemetry": {"enabled": False}}


@pytest.mark.parametrize("no_color", [False, True])
def test_colour_only_on_a_terminal_without_no_color(host_env, no_color):
    host_env["ACME_TELEMETRY"] = "1"
    assert run_acme(CRASH, host_env).returncode == 1
    env = {**host_env, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"

    status, output = finish(spawn([acme_command(), "telemetry", "show"], env))

    assert status == 0
    assert "acme.crawler.CrawlError" in output
    assert ("\x1b[" in output) is not no_color
    piped = ok(run_acme(["telemetry", "show"], env))  # not a terminal: never colour
    assert "\x1b" not in piped


@pytest.mark.parametrize("door", sorted(DOORS))
def test_every_door_offers_the_same_commands(door, host_env, config_dir):
    command, prog = DOORS[door]

    nothing = ok(command(host_env, "show"))
    assert f"`{prog} enable` sends crash reports, `{prog} local` records them here only" in nothing
    assert ok(command(host_env, "enable", "--usage")).startswith("Crash reports and anonymous")
    assert ok(command(host_env, "local")).endswith(f"See them with `{prog} show`.\n")
    assert json.loads(ok(command(host_env, "status", "--json")))["level"] == "local"
    assert run_acme(CRASH, host_env).returncode == 1
    assert "acme.crawler.CrawlError" in ok(command(host_env, "show", "--all"))
    assert json.loads(ok(command(host_env, "show", "--json")))["resourceSpans"]
    disabled = ok(command(host_env, "disable")).splitlines()
    assert disabled[0] == "Crash reports for acme are disabled."
    assert disabled[1].endswith(f"on this machine; `{prog} clean` removes it.")
    assert ok(command(host_env, "clean")).startswith("Removed 1 stored report")
    assert ok(command(host_env, "clean")) == "Nothing to remove; your choice is kept.\n"
    assert json.loads((config_dir / "config.json").read_text())["telemetry"]["enabled"] is False


def test_show_skips_junk_and_never_hangs(host_env, config_dir, otlp_http, tmp_path):
    env = otlp_env(host_env, otlp_http, ACME_TELEMETRY="all", ACME_TELEMETRY_EXPORTER="otlp,file")
    assert run_acme(CRASH, env).returncode == 1  # sent (sent record) and stored (file)
    otlp_http.down = True
    run_python(EVENT_AND_ERROR, env, check=True)  # waiting in the outbox
    telemetry = config_dir / "telemetry"
    outside = tmp_path / "outside.json"
    outside.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": "OUTSIDE"}]}]}]}')
    names = {
        "sent": "99999999999999999999-otlp-0000000{}.json",
        "outbox": "99999999999999999999-{}.json",
        "reports": "9999-12-3{}.jsonl",
    }
    for folder, name in names.items():
        (telemetry / folder / name.format(1)).symlink_to(outside)
        os.mkfifo(telemetry / folder / name.format(2))
        (telemetry / folder / name.format(3)).write_bytes(b"{" * (20 * 1024 * 1024))

    shown = ok(run_acme(["telemetry", "show", "--all"], env))  # run() times out at 120 s

    assert "acme.crawler.CrawlError" in shown
    assert "OUTSIDE" not in shown
    waiting = [p for p in places(shown) if p.startswith("Waiting in the outbox")]
    assert len(waiting) == 2
    assert any(p.startswith("Sent to otlp") for p in places(shown))


def test_planted_day_files_never_break_show_disable_or_clean(host_env, config_dir):
    from otel_telemetry.exporters._file import MAX_READ_FILE

    host_env["ACME_TELEMETRY"] = "1"
    assert run_acme(CRASH, host_env).returncode == 1
    reports = config_dir / "telemetry" / "reports"
    [day_file] = reports.iterdir()
    with open(day_file, "ab") as handle:  # json.loads raises RecursionError on it
        handle.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    with open(reports / "2000-01-01.jsonl", "wb") as handle:
        handle.truncate(MAX_READ_FILE + 1)  # sparse, never read

    shown = ok(run_acme(["telemetry", "show", "--all"], host_env))
    assert "acme.crawler.CrawlError" in shown
    assert shown.splitlines()[-1].startswith("Not read: 1 file of reports in ")
    assert "Not read: 1 file" in run_acme(["telemetry", "show", "--json"], host_env).stderr
    disabled = run_acme(["telemetry", "disable"], host_env)
    assert ok(disabled).splitlines()[1] == (
        "1 stored report remains (and 1 file too large to read) on this machine;"
        " `acme telemetry clean` removes them."
    )
    assert ok(run_acme(["telemetry", "clean"], host_env)) == (
        "Removed 1 stored report and 1 file of reports too large to read; your choice is kept.\n"
    )
    assert list(reports.iterdir()) == []


@pytest.fixture
def immutable_outbox(config_dir):
    """An outbox holding one report, which nobody can delete, root included."""
    outbox = config_dir / "telemetry" / "outbox"
    outbox.mkdir(parents=True)
    (outbox / "00000000000000000001-aaaaaaaaaaaa.json").write_text("{}")
    outbox.chmod(0o500)
    immutable = os.geteuid() == 0  # permission bits do not stop root; the immutable flag does
    if immutable:
        subprocess.run(["chattr", "+i", str(outbox)], check=True)
    try:
        yield outbox
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(outbox)], check=True)
        outbox.chmod(0o700)


def test_clean_on_a_read_only_folder_says_what_stayed(host_env, config_dir, immutable_outbox):
    install_id = config_dir / "telemetry" / "install_id"
    install_id.write_text("8a3c5f0e-1111-4222-8333-944445555666\n")

    result = run_acme(["telemetry", "clean"], host_env)

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == "Removed the install id; your choice is kept.\n"
    [error] = result.stderr.splitlines()
    assert error.startswith(f"Error: could not remove 1 file(s) in {immutable_outbox} (")
    assert len(os.listdir(immutable_outbox)) == 1
    assert not install_id.exists()


def test_python_api_show_and_clean(host_env, config_dir):
    host_env["ACME_TELEMETRY"] = "1"
    assert run_acme(CRASH, host_env).returncode == 1
    code = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="acme")
t.show()
print(t.clean())
"""
    out = ok(run_python(code, host_env))
    assert "acme.crawler.CrawlError" in out
    assert out.splitlines()[-1].startswith("Removed ")
    assert not list(Path(config_dir, "telemetry", "reports").iterdir())
