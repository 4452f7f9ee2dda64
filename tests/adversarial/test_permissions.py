"""Promise: what we write is the user's alone, and only where we say.

README: folders and files are "owner-only", under ``<config dir>``. Attacked with real
host processes under umasks 000, 022 and 077, and with symbolic links planted inside
the config dir that point to a folder or file outside it.

What is refused (see ``otel_telemetry/_layout.py``): below the config dir nothing is
followed: a link as ``telemetry``, ``telemetry/outbox``, ``telemetry/reports``,
``config.json``, ``.config.json.lock``, ``install_id`` or a day file of the ``file``
exporter. The config dir itself may be a link the user chose (``ACME_CONFIG_DIR``).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from otel_telemetry._layout import Layout
from otel_telemetry.exporters._file import read_reports
from tests.conftest import otlp_env, run_python

pytestmark = pytest.mark.integration

# Everything that writes: a crash report, a usage event, the saved choice.
HOST = """
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
t.enable(usage=True)  # level all: the usage event is sent too
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
t.send_event("used")
print(t.flush(30), "host still running")
"""


def _run(
    env: dict[str, str], code: str = HOST, umask: int = -1
) -> subprocess.CompletedProcess[str]:
    return run_python(code, env, check=True, umask=umask)  # the umask of the child only


def _tree(root: Path) -> dict[str, int]:
    """Every entry below ``root`` with its mode, as lstat sees it."""
    modes = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            modes[str(path.relative_to(root))] = os.lstat(path).st_mode
    return modes


def _snapshot(outside: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(outside.iterdir())}


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder outside the config dir, with one file of the user's in it."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "precious.txt").write_text("the user's own file\n")
    return path


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_every_folder_is_0700_and_every_file_0600_whatever_the_umask(
    umask, host_env, tmp_path, otlp_http
):
    config_dir = tmp_path / "new" / "acme"  # created by us, parents included
    env = otlp_env({**host_env, "ACME_CONFIG_DIR": str(config_dir)}, otlp_http)
    env["ACME_TELEMETRY_EXPORTER"] = "otlp,file"  # the outbox and the reports folder

    _run(env, umask=umask)
    otlp_http.wait_for_spans(2)

    modes = _tree(tmp_path / "new")
    for expected in (
        "acme",
        "acme/config.json",
        "acme/.config.json.lock",
        "acme/telemetry",
        "acme/telemetry/outbox",
        "acme/telemetry/reports",
        "acme/telemetry/sent",
        "acme/telemetry/install_id",
    ):
        assert expected in modes, sorted(modes)
    wrong = {
        name: oct(stat.S_IMODE(mode))
        for name, mode in modes.items()
        if stat.S_IMODE(mode) != (0o700 if stat.S_ISDIR(mode) else 0o600)
    }
    assert wrong == {}
    assert stat.S_IMODE(os.lstat(tmp_path / "new").st_mode) == 0o700


@pytest.mark.parametrize("planted", ["telemetry", "telemetry/reports"])
def test_a_planted_folder_link_is_never_written_through(planted, host_env, config_dir, outside):
    link = config_dir / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)

    result = _run({**host_env, "ACME_TELEMETRY_EXPORTER": "file"})

    assert "host still running" in result.stdout  # the report could not be kept: fine
    assert _snapshot(outside) == before  # nothing written, nothing deleted outside
    assert link.is_symlink()  # refused, left alone


def test_a_planted_outbox_link_is_never_written_through_and_reports_still_leave(
    host_env, config_dir, outside, otlp_http
):
    link = Layout(config_dir).outbox_dir
    link.parent.mkdir(parents=True)
    link.symlink_to(outside, target_is_directory=True)
    before = _snapshot(outside)

    _run(otlp_env({**host_env, "ACME_TELEMETRY_FLUSH_TIMEOUT": "15"}, otlp_http))

    bodies = b"".join(r.body for r in otlp_http.wait_for(1))
    assert b"a crash of the host" in bodies  # sent without a copy on disk
    assert _snapshot(outside) == before
    assert link.is_symlink()


def test_disable_never_deletes_through_a_planted_outbox_link(host_env, config_dir, outside):
    link = Layout(config_dir).outbox_dir
    link.parent.mkdir(parents=True)
    link.symlink_to(outside, target_is_directory=True)
    (outside / "00000000000000000001-abc.json").write_text("{}")
    before = _snapshot(outside)

    _run(host_env, "from otel_telemetry import Telemetry\nTelemetry(app='acme').disable()")

    assert _snapshot(outside) == before


def test_a_planted_day_file_link_is_never_appended_to(host_env, config_dir, outside):
    reports = Layout(config_dir).reports_dir
    reports.mkdir(parents=True)
    now = time.time()
    for offset in (-86400, 0, 86400):  # whichever day the host sees
        name = time.strftime("%Y-%m-%d.jsonl", time.gmtime(now + offset))
        (reports / name).symlink_to(outside / "precious.txt")
    before = _snapshot(outside)

    _run({**host_env, "ACME_TELEMETRY_EXPORTER": "file"})

    assert _snapshot(outside) == before


@pytest.mark.parametrize("planted", ["config.json", ".config.json.lock"])
def test_a_planted_config_file_link_is_never_followed(planted, host_env, config_dir, outside):
    target = outside / "precious.txt"
    target.write_text(json.dumps({"telemetry": {"enabled": True}}))
    (config_dir / planted).symlink_to(target)
    before = _snapshot(outside)

    code = (
        "from otel_telemetry import Telemetry\n"
        "t = Telemetry(app='acme')\n"
        "print(t.status().enabled, t.status().decided_by)\n"
        "t.disable()\n"
    )
    result = _run(host_env, code)

    assert _snapshot(outside) == before
    if planted == "config.json":
        # The link's target is not read: no saved choice, the mode decides (CI: off).
        assert result.stdout.split() == ["False", "mode:non-interactive"]


def test_a_planted_install_id_link_is_never_read(host_env, config_dir, outside, tmp_path):
    foreign = str(uuid.uuid4())
    (outside / "id").write_text(foreign + "\n")
    telemetry = Layout(config_dir).telemetry_dir
    telemetry.mkdir()
    (telemetry / "install_id").symlink_to(outside / "id")
    before = _snapshot(outside)

    _run({**host_env, "ACME_TELEMETRY_EXPORTER": "file"})

    sent = json.dumps(read_reports(Layout(config_dir).reports_dir))
    assert "otel_telemetry.install_id" in sent
    assert foreign not in sent  # another file's content never becomes our id
    assert _snapshot(outside) == before


def test_a_config_dir_the_user_links_elsewhere_is_used(host_env, tmp_path):
    real = tmp_path / "disk" / "acme"
    real.mkdir(parents=True)
    link = tmp_path / "acme-link"
    link.symlink_to(real, target_is_directory=True)

    _run({**host_env, "ACME_CONFIG_DIR": str(link), "ACME_TELEMETRY_EXPORTER": "file"})

    assert json.loads((real / "config.json").read_text())["telemetry"]["enabled"] is True
    assert read_reports(Layout(real).reports_dir)


@pytest.mark.parametrize("depth", [1, 3], ids=["home", "home and its parents"])
def test_a_home_that_does_not_exist_is_never_created(host_env, tmp_path, depth) -> None:
    home = tmp_path.joinpath(*(["missing"] * (depth - 1)), "no-such-home")
    env = {k: v for k, v in host_env.items() if k != "ACME_CONFIG_DIR"}
    env.update(HOME=str(home), ACME_TELEMETRY="1", ACME_TELEMETRY_EXPORTER="file")

    result = run_python("import acme.crawler\nacme.crawler.parse_robots('no colon')", env)

    assert result.returncode == 1
    assert "ValueError" in result.stderr  # the host's own traceback
    created = {p.name for p in tmp_path.iterdir()} & {"missing", "no-such-home"}
    assert created == set()  # neither the home nor any folder above it
