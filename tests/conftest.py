from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Union

import pytest
from hypothesis import settings as hypothesis_settings

from otel_telemetry.consent._mode import CI_VARIABLES
from tests.receivers.faulty import FaultyEndpoint
from tests.receivers.otlp import OtlpGrpcReceiver, OtlpHttpReceiver
from tests.receivers.spotlight import SpotlightSidecar

ROOT = Path(__file__).resolve().parent.parent

# Variables of the machine that would change what a host subprocess decides.
_SCRUBBED_ENV = ("DO_NOT_TRACK", "OTEL_SDK_DISABLED", "SENTRY_DSN")

# Hypothesis: the same examples on every CI run (a failure there is reproducible from its
# blob), fresh ones on a developer's machine. HYPOTHESIS_PROFILE picks one explicitly.
hypothesis_settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, max_examples=100, database=None
)
hypothesis_settings.register_profile("dev", deadline=None, print_blob=True)
# Derandomized by default: a property test fails the same way on every run and machine.
# HYPOTHESIS_PROFILE=dev explores new examples on a developer's machine.
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or "ci")


class ProcessInUnitTest(RuntimeError):
    """A test not marked ``integration`` started a process or opened a network socket."""


class _ProcessGuard:
    """An audit hook: outside ``integration`` tests, no process and no network socket.

    Audit hooks cannot be removed, so the hook is installed once and consults
    ``unmarked``: the id of the running test when it is not marked ``integration``, else
    None. It sees every thread of this process, the package's worker included.
    """

    SPAWN = frozenset(
        {
            "subprocess.Popen",
            "os.posix_spawn",
            "os.spawn",
            "os.system",
            "os.exec",
            "os.fork",
            "os.forkpty",  # pexpect, pty.fork and pty.spawn
        }
    )
    SOCKET = frozenset({"socket.bind", "socket.connect"})
    _UNIX = getattr(socket, "AF_UNIX", None)

    def __init__(self) -> None:
        self.unmarked: Optional[str] = None
        self.violations: list[str] = []
        self.reported = 0

    def __call__(self, event: str, args: tuple) -> None:
        if self.unmarked is None:
            return
        if event in self.SPAWN:
            what = f"{event} {args[0]!r}" if args else event
        elif event in self.SOCKET:
            if getattr(args[0], "family", None) == self._UNIX:
                return
            what = f"{event} to {args[1]!r}"
        else:
            return
        message = (
            f"{self.unmarked} did {what} but is not marked integration: mark it "
            "@pytest.mark.integration (or the module: pytestmark = pytest.mark.integration)"
        )
        self.violations.append(message)
        raise ProcessInUnitTest(message)

    def unreported(self) -> list[str]:
        """Violations not yet turned into a failure (say, swallowed on a worker thread)."""
        new = self.violations[self.reported :]
        self.reported = len(self.violations)
        return new


_GUARD = _ProcessGuard()


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_GUARD)


_NO_COLLECTOR = (
    "the collector tests (tests/collector) did not run: OTEL_TELEMETRY_COLLECTOR is not set "
    "(`make collector-test` builds the collector and runs them; `make test` does when go is "
    "on PATH)"
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out the tests of a real collector when no binary is given: deselected and
    said so in one line, never counted as skipped or passed."""
    if os.environ.get("OTEL_TELEMETRY_COLLECTOR"):
        return
    kept = [item for item in items if item.get_closest_marker("collector") is None]
    if len(kept) < len(items):
        config.hook.pytest_deselected(
            items=[item for item in items if item.get_closest_marker("collector")]
        )
        items[:] = kept
        config.stash[_COLLECTOR_LEFT_OUT] = True


_COLLECTOR_LEFT_OUT = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if terminalreporter.config.stash.get(_COLLECTOR_LEFT_OUT, False):
        terminalreporter.write_line(_NO_COLLECTOR)


@pytest.fixture(autouse=True)
def _integration_marker_enforced(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that starts a process or a receiver without the ``integration`` mark."""
    marked = request.node.get_closest_marker("integration") is not None
    _GUARD.unmarked = None if marked else request.node.nodeid
    _GUARD.violations.clear()
    _GUARD.reported = 0
    try:
        yield
    finally:
        _GUARD.unmarked = None
    missed = _GUARD.unreported()
    if missed:
        pytest.fail("\n".join(missed), pytrace=False)


@pytest.fixture(autouse=True)
def _no_sender_left_behind(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that made a temporary folder, wait for the detached senders started there.

    Hosts that crash hand their reports to a sender that outlives them (see
    :func:`wait_for_senders`); tests that run hosts through pexpect or ``Popen`` do not
    pass through :func:`run`, so each test ends only once no sender of its config dirs
    still runs.
    """
    # Asked for now, while it exists: it is torn down before this fixture's end.
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is None:
        return
    dirs = [str(senders.parent.parent) for senders in root.glob("**/telemetry/senders")]
    if dirs:
        wait_for_senders({f"DIR{i}_CONFIG_DIR": d for i, d in enumerate(dirs)})


def _fail_on_violations() -> Iterator[None]:
    try:
        result = yield
    except BaseException:
        _GUARD.unreported()  # failed already, most likely by the guard's own exception
        raise
    missed = _GUARD.unreported()
    if missed:  # swallowed where it happened: on a worker thread, by an `except`
        pytest.fail("\n".join(missed), pytrace=False)
    return result


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    return (yield from _fail_on_violations())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    return (yield from _fail_on_violations())


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# A host module (package "__main__") that captures one handled exception and flushes.
CAPTURE_ONE = """
import sys
from otel_telemetry import Telemetry
t = Telemetry(app="acme", package="__main__")
try:
    raise ValueError("a crash of the host")
except ValueError as exc:
    t.capture_exception(exc)
delivered = t.flush(30)
"""


@pytest.fixture
def otlp_http() -> Iterator[OtlpHttpReceiver]:
    with OtlpHttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def faulty() -> Iterator[FaultyEndpoint]:
    """A :class:`FaultyEndpoint` (``ok`` mode, its blackhole and refused ports), closed after."""
    endpoint = FaultyEndpoint()
    try:
        yield endpoint
    finally:
        endpoint.close()


@pytest.fixture
def otlp_grpc() -> Iterator[OtlpGrpcReceiver]:
    with OtlpGrpcReceiver() as receiver:
        yield receiver


@pytest.fixture
def spotlight() -> Iterator[SpotlightSidecar]:
    sidecar = SpotlightSidecar()
    yield sidecar
    sidecar.close()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    path = tmp_path / "acme-config"
    path.mkdir()
    return path


@pytest.fixture
def host_env(config_dir: Path, tmp_path: Path) -> dict[str, str]:
    """A clean environment for a host subprocess: its own HOME and config dir, no OTEL_*."""
    return clean_host_env(tmp_path / "home", config_dir)


def clean_host_env(home: Path, config_dir: Path) -> dict[str, str]:
    """What ``host_env`` gives, for a home (made here) and config dir of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("OTEL_", "ACME_")) and k not in _SCRUBBED_ENV
    }
    home.mkdir()
    env.update(
        HOME=str(home),
        ACME_CONFIG_DIR=str(config_dir),
        PYTHONDONTWRITEBYTECODE="1",
        # First reports import the SDK on the worker; give slow CI machines room.
        ACME_TELEMETRY_FLUSH_TIMEOUT="15",
    )
    return env


@pytest.fixture
def tty_env(host_env: dict[str, str]) -> dict[str, str]:
    """A host environment as on a developer's terminal: no CI variable."""
    return {k: v for k, v in host_env.items() if k not in CI_VARIABLES}


def otlp_env(
    env: dict[str, str], receiver: Union[OtlpHttpReceiver, OtlpGrpcReceiver], **more: str
) -> dict[str, str]:
    """``env`` for a host whose reports go to ``receiver`` through the ``otlp`` exporter."""
    return {
        **env,
        "ACME_TELEMETRY_EXPORTER": "otlp",
        "ACME_OTLP_ENDPOINT": receiver.endpoint,
        **more,
    }


def blackhole_env(env: dict[str, str], endpoint: FaultyEndpoint, **more: str) -> dict[str, str]:
    """``env`` for a host, consent on, whose ``otlp`` exporter sends into ``endpoint``'s
    blackhole (connections accepted, never answered)."""
    return {
        **env,
        "ACME_TELEMETRY": "1",
        "ACME_TELEMETRY_EXPORTER": "otlp",
        "ACME_OTLP_ENDPOINT": f"http://127.0.0.1:{endpoint.hole_port}",
        **more,
    }


@pytest.fixture
def otlp_host_env(host_env: dict[str, str], otlp_http: OtlpHttpReceiver) -> dict[str, str]:
    """``host_env`` sending reports to the ``otlp_http`` receiver (consent left as it is)."""
    host_env.update(otlp_env({}, otlp_http))
    return host_env


def acme_command() -> str:
    return str(Path(sys.executable).with_name("acme"))


def run(
    argv: list[str], env: dict[str, str], *, umask: int = -1
) -> subprocess.CompletedProcess[str]:
    """Run a command the way a host process runs: stdin closed, output captured.

    ``umask`` is the child's (the default leaves ours).
    """
    result = subprocess.run(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        umask=umask,
    )
    wait_for_senders(env)
    return result


def host_config_dirs(env: dict[str, str]) -> list[str]:
    """The config dirs a host run with ``env`` may use: ``<APP>_CONFIG_DIR``, ``~/.<app>``."""
    dirs = [value for name, value in env.items() if name.endswith("_CONFIG_DIR") and value]
    home = env.get("HOME")
    if home and os.path.isdir(home):
        dirs += [entry.path for entry in os.scandir(home) if entry.name.startswith(".")]
    return dirs


def wait_for_senders(env: dict[str, str], timeout: float = 60.0) -> None:
    """Wait until the detached senders that hosts run with ``env`` started have ended.

    A crashing host hands its reports to a detached sender that outlives it
    (``pipeline/_handoff.py``): what it delivers arrives after the host's exit. Every
    test that runs a host waits here, so no process is left behind and what a test
    reads at a receiver or on disk is complete. The sender is bounded in time
    (``_detached.LIMIT``); one still running after ``timeout`` fails the test.
    """
    import time

    from otel_telemetry.pipeline._handoff import senders_of

    dirs = host_config_dirs(env)
    deadline = time.monotonic() + timeout
    while senders_of(dirs):
        if time.monotonic() > deadline:
            raise AssertionError(f"detached senders still running after {timeout:.0f} s")
        time.sleep(0.02)


def run_python(
    code: str, env: dict[str, str], *args: str, check: bool = False, umask: int = -1
) -> subprocess.CompletedProcess[str]:
    """Run code in a fresh interpreter; ``check``: it must succeed without a traceback."""
    result = run([sys.executable, "-c", code, *args], env, umask=umask)
    if check and (result.returncode or "Traceback" in result.stderr):
        raise AssertionError(f"exit {result.returncode}\n{result.stderr}")
    return result


def run_acme(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the example host's ``acme`` console script, as its users do."""
    return run([acme_command(), *args], env)
