"""Promise: a host's ``config.json`` never hurts the host, whatever it holds.

README: "a corrupt file is set aside with one warning", "no exception escapes into host
code", the environment decides before the file. Attacked with real host processes and
the files users really end up with: a Windows editor's cp1252, binary garbage, a FIFO,
a file of hundreds of MiB, deep nesting; and a withdrawal that could not delete the
reports waiting on disk.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from otel_telemetry._layout import Layout
from otel_telemetry.exporters._file import read_reports
from tests.conftest import otlp_env, run_python
from tests.processes import PEAK_RSS

pytestmark = pytest.mark.integration

# A host that reports one handled exception, asks for its status, then enables.
HOST = (
    PEAK_RSS
    + """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
try:
    raise ValueError(sys.argv[1])
except ValueError as exc:
    t.capture_exception(exc)
print("flushed", t.flush(30))
status = t.status()
print("status", status.enabled, status.decided_by)
t.enable()
print("enabled", t.status().enabled)
print("rss_kb", peak_rss_kib())
"""
)


def _run(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # A host that hangs on the file fails the test here, within the timeout.
    return subprocess.run(
        [sys.executable, "-c", HOST, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _messages(config_dir: Path) -> list[str]:
    text = json.dumps(read_reports(Layout(config_dir).reports_dir))
    return [m for m in ("a crash of the host",) if m in text]


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "config.json" in line]


def _saved(config_dir: Path) -> dict[str, object]:
    data = (config_dir / "config.json").read_bytes()
    document = json.loads(data.decode("utf-8"))  # what we write is UTF-8 (ASCII, in fact)
    assert isinstance(document, dict)
    return document


def _assert_host_fine(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "flushed True" in result.stdout
    assert "status True ACME_TELEMETRY" in result.stdout  # the environment decides
    assert "enabled True" in result.stdout


def test_a_cp1252_config_keeps_the_host_keys_and_reports_flow(host_env, config_dir):
    # As written by json.dump on Windows with the locale's encoding.
    (config_dir / "config.json").write_bytes(b'{"name": "Caf\xe9", "theme": "dark"}')

    result = _run({**host_env, "ACME_TELEMETRY": "1"}, "a crash of the host")

    _assert_host_fine(result)
    assert _messages(config_dir) == ["a crash of the host"]  # the report was not dropped
    document = _saved(config_dir)
    assert document["name"] == "Caf\u00e9"  # the host's keys survive, decoded right
    assert document["theme"] == "dark"
    assert document["telemetry"] == {"enabled": True}
    assert len(_warnings(result.stderr)) <= 1


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(bytes(range(256)) * 16, id="binary garbage"),
        pytest.param(b"\xff\xfe" + '{"a": 1'.encode("utf-16-le"), id="truncated UTF-16"),
        pytest.param(b"[" * 5000 + b"]" * 5000, id="nested past the parser"),
    ],
)
def test_garbage_is_set_aside_with_one_warning_and_enable_works(host_env, config_dir, content):
    (config_dir / "config.json").write_bytes(content)

    result = _run({**host_env, "ACME_TELEMETRY": "1"}, "a crash of the host")

    _assert_host_fine(result)
    assert _messages(config_dir) == ["a crash of the host"]
    assert len(_warnings(result.stderr)) == 1, result.stderr
    [aside] = [p for p in config_dir.iterdir() if p.name.startswith("config.json.")]
    assert aside.read_bytes() == content  # kept, untouched, beside the new file
    assert _saved(config_dir) == {"telemetry": {"enabled": True}}


def test_a_deeply_nested_host_key_does_not_break_enable(host_env, config_dir):
    # Parsed fine, but deeper than the indenting encoder's recursion can write back.
    nested = "[" * 900 + "]" * 900
    (config_dir / "config.json").write_text('{"deep": ' + nested + "}")

    result = _run({**host_env, "ACME_TELEMETRY": "1"}, "a crash of the host")

    _assert_host_fine(result)
    document = _saved(config_dir)
    assert document["telemetry"] == {"enabled": True}
    assert json.dumps(document["deep"], separators=(",", ":")) == nested


def test_a_fifo_as_config_never_blocks_the_host(host_env, config_dir):
    fifo = config_dir / "config.json"
    os.mkfifo(fifo)

    result = _run({**host_env, "ACME_TELEMETRY": "1"}, "a crash of the host", timeout=60)

    _assert_host_fine(result)
    assert _messages(config_dir) == ["a crash of the host"]
    assert len(_warnings(result.stderr)) == 1, result.stderr
    [aside] = [p for p in config_dir.iterdir() if p.name.startswith("config.json.unreadable-")]
    assert aside.is_fifo()  # renamed, never opened
    assert _saved(config_dir) == {"telemetry": {"enabled": True}}


def test_the_cli_never_blocks_on_a_fifo(host_env, config_dir):
    os.mkfifo(config_dir / "config.json")
    result = subprocess.run(
        [sys.executable, "-m", "otel_telemetry", "--app", "acme", "status"],
        env=host_env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Telemetry for acme: off" in result.stdout
    assert "Traceback" not in result.stderr


def test_a_huge_config_is_not_read(host_env, config_dir):
    # Sparse: 256 MiB that cost no disk. Reading it all would cost the host that much
    # memory (and seconds) on the app thread.
    size = 256 * 1024 * 1024
    with open(config_dir / "config.json", "wb") as handle:
        handle.truncate(size)

    result = _run({**host_env, "ACME_TELEMETRY": "1"}, "a crash of the host")

    _assert_host_fine(result)
    assert _messages(config_dir) == ["a crash of the host"]
    rss_kb = int(result.stdout.split("rss_kb ")[1].split()[0])
    assert rss_kb * 1024 < size // 2, f"peak RSS {rss_kb} KiB: the file was read"
    assert len(_warnings(result.stderr)) == 1, result.stderr
    [aside] = [p for p in config_dir.iterdir() if p.name.startswith("config.json.unreadable-")]
    assert aside.stat().st_size == size
    assert _saved(config_dir) == {"telemetry": {"enabled": True}}


# -- a withdrawal the outbox could not carry out --------------------------------------------

CAPTURE = """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
try:
    raise ValueError(sys.argv[1])
except ValueError as exc:
    t.capture_exception(exc)
print(t.flush(float(sys.argv[2])))
"""

CHOOSE = """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.disable() if sys.argv[1] == "disable" else t.enable()
"""


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _waiting(config_dir: Path) -> list[str]:
    outbox = Layout(config_dir).outbox_dir
    return sorted(p.name for p in outbox.iterdir()) if outbox.is_dir() else []


def test_reports_a_disable_could_not_delete_are_never_sent_after_enable(
    host_env, config_dir, otlp_http
):
    # 1. A consented run whose endpoint is down leaves its report in the outbox.
    offline = {
        **host_env,
        "ACME_TELEMETRY": "1",
        "ACME_TELEMETRY_EXPORTER": "otlp",
        "ACME_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
        "ACME_TELEMETRY_FLUSH_TIMEOUT": "1",
    }
    run_python(CAPTURE, offline, "withdrawn report", "1", check=True)
    assert len(_waiting(config_dir)) == 1

    # 2. The user withdraws consent, but the outbox refuses the deletion.
    outbox = Layout(config_dir).outbox_dir
    immutable = os.geteuid() == 0  # root ignores modes: only the immutable flag holds
    outbox.chmod(0o500)
    if immutable:
        subprocess.run(["chattr", "+i", str(outbox)], check=True)
    try:
        run_python(CHOOSE, host_env, "disable", check=True)
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(outbox)], check=True)
        outbox.chmod(0o700)
    assert len(_waiting(config_dir)) == 1  # still there: the attack holds
    section = _saved(config_dir)["telemetry"]
    assert isinstance(section, dict)
    assert section["enabled"] is False
    assert isinstance(section["withdrawn_ns"], int)  # when, for the outbox to judge

    # 3. Later the user opts in again, and a healthy run reports a new crash.
    run_python(CHOOSE, host_env, "enable", check=True)
    result = run_python(CAPTURE, otlp_env(host_env, otlp_http), "fresh report", "30", check=True)
    assert result.stdout.strip() == "True"

    bodies = [received.body for received in otlp_http.wait_for(1)]
    assert any(b"fresh report" in body for body in bodies)
    # The run is over: whatever it sent has arrived. The withdrawn report never leaves.
    assert not any(b"withdrawn report" in received.body for received in otlp_http.requests)
